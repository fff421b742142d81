"""What the stand-in kubelet asks containerd for (lab/standins/kube/podconfig.py, runtime.py), what the stand-in
kube-proxy writes into iptables (proxy.py) and what the endpoints controller lists (endpoints.py): pure functions,
as the real components compute them."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab" / "standins"))

from kube import cri, endpoints, podconfig, proxy, runtime  # noqa: E402

UID = "566663fc-d58b-429c-a42d-55915962006a"


def pod(containers, **spec):
    return {"metadata": {"name": "web-1", "namespace": "shop", "uid": UID, "labels": {"app": "web"}},
            "spec": dict(containers=containers, nodeName="kubh2", **spec)}


@pytest.mark.parametrize("resources,qos,parent", [
    ({}, "BestEffort", f"kubepods-besteffort-pod{UID.replace('-', '_')}.slice"),
    ({"requests": {"memory": "64Mi"}}, "Burstable", f"kubepods-burstable-pod{UID.replace('-', '_')}.slice"),
    ({"limits": {"cpu": "500m", "memory": "64Mi"}}, "Guaranteed", f"kubepods-pod{UID.replace('-', '_')}.slice"),
    ({"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}}, "Burstable",
     f"kubepods-burstable-pod{UID.replace('-', '_')}.slice"),
])
def test_the_pods_slice_follows_its_qos_class(resources, qos, parent):
    p = pod([{"name": "web", "image": "web:1", "resources": resources}])
    assert podconfig.qos_class(p) == qos and podconfig.cgroup_parent(p) == parent
    score = podconfig.oom_score_adj(p, p["spec"]["containers"][0])
    assert score == {"BestEffort": 1000, "Guaranteed": -997}[qos] if qos != "Burstable" else 2 <= score <= 999


def test_quantities_and_expansion_read_as_kubernetes_reads_them():
    assert [podconfig.quantity(q) for q in ("100m", "1", "1.5", "64Mi", "1G", "2e3")] == \
        [0.1, 1, 1.5, 64 * 2 ** 20, 10 ** 9, 2000]
    env = {"HOST": "10.96.0.2"}
    assert podconfig.expand("http://$(HOST)/$(MISSING) $$(HOST)", env) == "http://10.96.0.2/$(MISSING) $(HOST)"


def test_a_container_gets_the_services_variables_its_fields_and_its_own_env():
    services = [{"metadata": {"namespace": "shop", "name": "web-front"},
                 "spec": {"clusterIP": "10.96.0.7", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}},
                {"metadata": {"namespace": "default", "name": "kubernetes"},
                 "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]}},
                {"metadata": {"namespace": "other", "name": "db"}, "spec": {"clusterIP": "10.96.0.9",
                                                                         "ports": [{"port": 5432}]}}]
    container = {"name": "web", "image": "web:1",
                 "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                         {"name": "TARGET", "value": "http://$(WEB_FRONT_SERVICE_HOST):$(WEB_FRONT_SERVICE_PORT)/"},
                         {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                         {"name": "COLOUR", "valueFrom": {"configMapKeyRef": {"name": "paint", "key": "colour"}}}]}

    def lookup(kind, name, key):
        return {"colour": "blue"}.get(key) if (kind, name) == ("configmaps", "paint") else None
    env = podconfig.container_env(pod([container]), container, "10.244.2.3", "10.231.0.12", lookup, services)
    assert env["WEB_FRONT_SERVICE_HOST"] == "10.96.0.7" and env["WEB_FRONT_SERVICE_PORT_HTTP"] == "80"
    assert env["WEB_FRONT_PORT_80_TCP"] == "tcp://10.96.0.7:80" and env["KUBERNETES_SERVICE_PORT"] == "443"
    assert "DB_SERVICE_HOST" not in env   # another namespace's
    assert (env["NODE"], env["TARGET"], env["APP"], env["COLOUR"]) == ("kubh2", "http://10.96.0.7:80/", "web", "blue")


def decoded(data, num):
    return cri.pb_decode(cri.pb_decode(data)[num][0])


def test_the_sandbox_config_names_the_pod_its_network_namespaces_and_ports():
    p = pod([{"name": "web", "image": "web:1", "ports": [{"containerPort": 80, "hostPort": 8080}]}])
    config = cri.pb_decode(podconfig.sandbox_config(p, 1, ["10.96.0.10"]))
    meta = cri.pb_decode(config[1][0])
    assert (cri.pb_str(meta, 1), cri.pb_str(meta, 2), cri.pb_str(meta, 3), meta[4]) == ("web-1", UID, "shop", [1])
    assert cri.pb_str(config, 2) == "web-1" and cri.pb_str(config, 3) == f"/var/log/pods/shop_web-1_{UID}"
    assert [v.decode() for v in cri.pb_decode(config[4][0])[1]] == ["10.96.0.10"]
    port = cri.pb_decode(config[5][0])
    assert (port[2], port[3]) == ([80], [8080])
    linux = cri.pb_decode(config[8][0])
    assert cri.pb_str(linux, 1) == f"kubepods-besteffort-pod{UID.replace('-', '_')}.slice"
    # on the host's network: the host's name (none given) and its network namespace
    host = cri.pb_decode(podconfig.sandbox_config(pod([{"name": "w", "image": "w"}], hostNetwork=True), 0))
    assert 2 not in host and 4 not in host
    namespaces = cri.pb_decode(cri.pb_decode(cri.pb_decode(host[8][0])[2][0])[1][0])
    assert namespaces[1] == [runtime.NS_NODE]


def test_messages_leave_zero_values_out_and_encode_negative_numbers_as_int64():
    assert runtime.message([(1, ""), (2, 0), (3, False), (4, None), (5, [])]) == b""
    assert runtime.number(cri.pb_decode(runtime.message([(5, -997)])), 5) == -997
    assert runtime.string_map(cri.pb_decode(runtime.message([(6, {"b": "2", "a": "1"})])), 6) == {"a": "1", "b": "2"}


SERVICE = {"metadata": {"namespace": "shop", "name": "web"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.2", "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 32093}]}}


def running(name, ip, ready=True):
    return {"metadata": {"namespace": "shop", "name": name, "uid": name + "-uid", "labels": {"app": "web"}},
            "spec": {"nodeName": "kubh2", "containers": [{"name": "web", "ports": [{"name": "http",
                                                                                     "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_endpoints_list_the_selected_pods_ready_or_not_on_their_resolved_port():
    subsets = endpoints.wanted_subsets(SERVICE, [running("b", "10.244.2.4"), running("a", "10.244.1.3"),
                                                 running("c", "10.244.1.9", ready=False),
                                                 dict(running("d", ""), status={"phase": "Pending"})])
    assert [[a["ip"] for a in s.get("addresses", [])] for s in subsets] == [["10.244.1.3", "10.244.2.4"]]
    assert subsets[0]["notReadyAddresses"][0]["ip"] == "10.244.1.9"
    assert subsets[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_kube_proxy_lays_its_rules_out_as_kube_proxy_does():
    ep = {"metadata": {"namespace": "shop", "name": "web"},
          "subsets": endpoints.wanted_subsets(SERVICE, [running("a", "10.244.1.3"), running("b", "10.244.2.4")])}
    nat, filter_ = proxy.rules([SERVICE], [ep], "10.244.0.0/16")
    svc, ext = proxy.chain("KUBE-SVC-", "shop/web:http", "tcp"), proxy.chain("KUBE-EXT-", "shop/web:http", "tcp")
    assert len(svc) == len("KUBE-SVC-") + 16 and svc != ext
    rules = "\n".join(nat)
    assert (f'-A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m comment --comment "shop/web:http cluster IP" -m tcp '
            f'--dport 80 -j {svc}') in rules
    assert f'-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/web:http" -m tcp --dport 32093 -j {ext}' in rules
    assert "--probability 0.5000000000" in rules and "DNAT --to-destination 10.244.1.3:8080" in rules
    assert "DNAT --to-destination 10.244.2.4:8080" in rules
    # the node ports' rule is the last of KUBE-SERVICES
    assert [line for line in nat if line.startswith("-A KUBE-SERVICES")][-1].endswith("-j KUBE-NODEPORTS")
    assert any("127.0.0.0/8" in line and "DROP" in line for line in filter_)
    # a Service without ready endpoints gets no rules
    assert not any("shop/web" in line for line in proxy.rules([SERVICE], [], "10.244.0.0/16")[0])


def test_the_labs_runc_raises_a_negative_oom_score_adj_to_0_and_leaves_the_rest(tmp_path):
    import importlib.util
    import json
    spec = importlib.util.spec_from_file_location(
        "runc_main", Path(__file__).resolve().parents[2] / "lab" / "kub_lab" / "upstream" / "runc_main.py")
    runc_main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runc_main)
    argv = ["--root", "/run/containerd/runc/k8s.io", "create", "--bundle", str(tmp_path), "--pid-file", "p", "id"]
    assert runc_main.bundle(argv) == str(tmp_path) and runc_main.bundle(["state", "id"]) is None
    for given, wanted in ((-998, 0), (-997, 0), (1000, 1000)):
        (tmp_path / "config.json").write_text(json.dumps({"process": {"oomScoreAdj": given, "args": ["sh"]}}))
        runc_main.clamp(str(tmp_path))
        assert json.loads((tmp_path / "config.json").read_text()) == {"process": {"oomScoreAdj": wanted,
                                                                                   "args": ["sh"]}}
