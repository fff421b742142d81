"""Workloads: Kubernetes objects as blueprint nodes, applied with the real kubectl on the lab's master.

One cluster (host 1 the master, host 2 a minion) with two workloads in namespace shop: web (a Deployment from a
manifest file, a Secret and a NodePort Service written in the blueprint) and probe, which depends on web; and
numbers, two ConfigMaps in namespace 123.
"""
import base64
import json
import time
from pathlib import Path

import pytest
from e2e_support import WEB_IMAGE, assert_refused, cluster_inputs

pytestmark = pytest.mark.lab
HOSTS = (1, 2)
DATA = Path(__file__).parent / "data"
PASSWORD = "w3b-pa55word-never-logged"
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf "


def workload_inputs(lab, master, minion):
    inputs = cluster_inputs(lab, master=master, minions=(minion,))
    ssh = {"user": inputs["ssh_user"], "private_key_path": inputs["ssh_private_key_path"],
           "known_hosts_path": inputs["ssh_known_hosts_path"], "connect_timeout": 5}
    cluster_keys = ("kubernetes_version", "cni_manifest", "package_repository_url", "package_repository_key_url",
                    "allow_cgroup_v1", "containerd_source", "containerd_version", "runc_version", "containerd_url",
                    "runc_url", "containerd_unit_url", "allow_plain_http", "registry_mirrors")
    return {"master_ip": inputs["master_ip"], "minion_ip": inputs["minion_ips"][0], "ssh": ssh,
            "cluster": {key: inputs[key] for key in cluster_keys if key in inputs}, "web_password": PASSWORD}


def test_a_bad_workload_stops_the_install_before_any_host_changes(lab, new_cfy):
    """The master's create checks the workloads deployed on it: here web's manifest file is missing."""
    assert_refused(lab, lambda: new_cfy(DATA / "workloads-blueprint.yaml"), workload_inputs(lab, 4, 5),
                   "bad input: node web: manifest web.yaml not found beside the blueprint: give a path relative to "
                   "the blueprint's folder, an absolute path, or a URL")


@pytest.fixture(scope="module")
def shop(lab, tmp_path_factory):
    from kub_lab.cfy import LocalCfy
    cfy = LocalCfy(tmp_path_factory.mktemp("workloads"), blueprint_id="shop",
                   blueprint=DATA / "workloads-blueprint.yaml")
    cfy.stage([DATA / "web.yaml"])
    cfy.init(workload_inputs(lab, 1, 2))
    yield cfy
    for i in HOSTS:
        lab.wipe(i)


def wait_for(predicate, timeout, interval=1.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def kubectl_json(lab, args):
    return json.loads(lab.exec(1, KUBECTL + args + " -o json").stdout)


def instance(cfy, node_id):
    return next(i for i in cfy.node_instances() if i["node_id"] == node_id)


def test_install_applies_both_workloads_in_order(lab, shop):
    out = shop.install().stdout
    web = kubectl_json(lab, "get deployment web -n shop")
    assert web["status"]["readyReplicas"] == 2
    assert web["metadata"]["annotations"]["kub/workload"].startswith("shop/web_")
    pods = kubectl_json(lab, "get pods -n shop -l app=web")["items"]
    assert len(pods) == 2 and {p["spec"]["nodeName"] for p in pods} == {"kubh2"}   # not on the tainted master
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)
    service = kubectl_json(lab, "get service web -n shop")
    namespace = kubectl_json(lab, "get namespace shop")
    assert namespace["metadata"]["annotations"]["kub/workload"].startswith("shop/web_")   # web made it
    # runtime properties: the objects with their uids, where the Service answers; outputs expose it
    props = instance(shop, "web")["runtime_properties"]
    assert [(o["kind"], o["namespace"], o["name"]) for o in props["objects"]] == [
        ("Deployment", "shop", "web"), ("Secret", "shop", "web-credentials"), ("Service", "shop", "web")]
    assert props["objects"][0]["uid"] == web["metadata"]["uid"]
    assert props["services"] == [{"namespace": "shop", "name": "web", "type": "NodePort",
                                  "cluster_ip": service["spec"]["clusterIP"],
                                  "ports": [{"name": "http", "port": 80, "protocol": "TCP", "target_port": 80,
                                             "node_port": service["spec"]["ports"][0]["nodePort"]}]}]
    assert 30000 <= service["spec"]["ports"][0]["nodePort"] <= 32767
    outputs = shop.outputs()
    assert outputs["web_node_port"] == service["spec"]["ports"][0]["nodePort"]
    assert outputs["web_cluster_ip"] == service["spec"]["clusterIP"]
    # probe was applied only once web was ready
    lines = out.splitlines()
    web_ready = min(n for n, line in enumerate(lines) if "ready: Deployment shop/web" in line)
    probe_applied = min(n for n, line in enumerate(lines) if "workload probe: " in line)
    assert web_ready < probe_applied
    assert kubectl_json(lab, "get deployment probe -n shop")["status"]["readyReplicas"] == 1
    assert "ready: ConfigMap shop/probe, Deployment shop/probe, Job shop/seed, StatefulSet shop/cache" in out
    assert kubectl_json(lab, "get job seed -n shop")["status"]["succeeded"] == 1
    assert sorted(p["metadata"]["name"] for p in kubectl_json(lab, "get pods -n shop -l app=cache")["items"]) == \
        ["cache-0", "cache-1"]
    # the Secret's value is nowhere in cfy's output or state
    state = json.dumps(shop.node_instances())
    for secret in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in out and secret not in state


def test_install_again_changes_nothing(lab, shop):
    before = {name: kubectl_json(lab, f"get {name} -n shop")["metadata"]["resourceVersion"]
              for name in ("deployment/web", "service/web", "secret/web-credentials", "deployment/probe", "job/seed",
                           "statefulset/cache")}
    shop.install()
    # applying again (what configure does) finds every object unchanged
    out = shop.execute("execute_operation", {"operation": "cloudify.interfaces.lifecycle.configure",
                                             "node_ids": ["web", "probe"]}).stdout
    assert f"[{lab.host_ip(1)}] workload web: no change" in out
    assert f"[{lab.host_ip(1)}] workload probe: no change" in out
    after = {name: kubectl_json(lab, f"get {name} -n shop")["metadata"]["resourceVersion"] for name in before}
    assert after == before


def test_a_deployment_deleted_by_hand_is_healed(lab, shop):
    lab.exec(1, KUBECTL + "delete deployment web -n shop")
    web_id = instance(shop, "web")["id"]
    out = shop.execute("heal", {"node_instance_id": web_id}).stdout
    assert "not ready: Deployment shop/web (missing)" in out
    applied = [line for line in out.splitlines() if "workload web: " in line]
    # only the Deployment is made again: kubectl finds the Secret and the Service unchanged
    assert applied and applied[-1].endswith("workload web: deployment.apps/web created"), applied
    web = kubectl_json(lab, "get deployment web -n shop")
    assert web["status"]["readyReplicas"] == 2
    assert instance(shop, "web")["runtime_properties"]["objects"][0]["uid"] == web["metadata"]["uid"]
    assert PASSWORD not in out


def test_check_drift_names_what_changed_by_hand_and_heal_sets_it_back(lab, shop):
    changed_password = base64.b64encode(b"changed-by-hand-secret").decode()
    lab.exec(1, KUBECTL + "patch configmap probe -n shop -p '{\"data\": {\"target\": \"http://elsewhere/\"}}' && " +
             KUBECTL + "scale deployment web -n shop --replicas=1 && " +
             KUBECTL + "patch secret web-credentials -n shop -p " +
             f"'{{\"data\": {{\"password\": \"{changed_password}\"}}}}'")
    out = shop.execute("check_drift").stdout
    assert "drift: ConfigMap shop/probe: data.target applied http://web.shop.svc:80/, live http://elsewhere/" in out, \
        out[-3000:]
    assert "drift: Deployment shop/web: spec.replicas applied 2, live 1" in out
    assert "drift: Secret shop/web-credentials: data.password\n" in out + "\n"   # which key, never its value
    assert PASSWORD not in out and changed_password not in out and "changed-by-hand" not in out
    drifts = {i["node_id"]: i["system_properties"]["configuration_drift"]["result"] for i in shop.node_instances()
              if i["node_id"] in ("web", "probe")}
    assert len(drifts["web"]) == 2 and len(drifts["probe"]) == 1, drifts
    for node_id in ("web", "probe"):
        out = shop.execute("heal", {"node_instance_id": instance(shop, node_id)["id"]}).stdout
        assert "drifted from what its blueprint applies (heal sets it back)" in out, out[-3000:]
        assert PASSWORD not in out and changed_password not in out
    assert kubectl_json(lab, "get configmap probe -n shop")["data"]["target"] == "http://web.shop.svc:80/"
    assert kubectl_json(lab, "get deployment web -n shop")["spec"]["replicas"] == 2
    secret = kubectl_json(lab, "get secret web-credentials -n shop")["data"]["password"]
    assert base64.b64decode(secret).decode() == PASSWORD
    out = shop.execute("check_drift").stdout
    assert "workload web: no drift" in out and "workload probe: no drift" in out


def test_delete_removes_exactly_what_the_workloads_made(lab, shop):
    # objects made by hand in the same namespace, one of them named like an object of ours would be elsewhere
    lab.exec(1, KUBECTL + f"create deployment other -n shop --image={WEB_IMAGE}")
    lab.exec(1, KUBECTL + "create configmap hand-made -n shop --from-literal=k=v")
    lab.exec(1, KUBECTL + "create configmap probe -n default --from-literal=k=v")
    for node in ("probe", "web"):   # what uninstall does to them, while the cluster stays to be looked at
        out = shop.execute("execute_operation", {"operation": "cloudify.interfaces.lifecycle.delete",
                                                 "node_ids": [node]}).stdout
        if node == "web":
            deleted = next(line for line in out.splitlines() if "delete workload web: " in line)
            # reverse order: the Service first, the Deployment last
            assert deleted.index('service "web"') < deleted.index('secret "web-credentials"') < \
                deleted.index('deployment.apps "web"'), deleted
            assert "namespace shop (made by this workload) still holds" in out
    left = lab.exec(1, KUBECTL + "get deployments,services,secrets,configmaps -n shop -o name").stdout.split()
    assert sorted(name for name in left if "kube-root-ca" not in name) == ["configmap/hand-made",
                                                                            "deployment.apps/other"]
    assert lab.exec(1, KUBECTL + "get configmap probe -n default -o name").stdout.strip() == "configmap/probe"
    # web's ReplicaSet and pods go with it (garbage collection), other's stay
    owned = lambda: [o["metadata"]["name"] for o in kubectl_json(lab, "get pods,replicasets -n shop")["items"]  # noqa: E731
                     if o["metadata"]["name"].startswith(("web-", "probe-", "seed-", "cache-"))]
    assert wait_for(lambda: not owned(), 30), owned()
    pods = [o["metadata"]["name"] for o in kubectl_json(lab, "get pods -n shop")["items"]]
    assert len(pods) == 1 and pods[0].startswith("other-"), pods
    assert instance(shop, "web")["runtime_properties"]["objects"] == []


def test_a_namespace_the_workload_made_goes_with_it_once_empty(lab, shop):
    lab.exec(1, KUBECTL + "delete deployment other -n shop && " + KUBECTL + "delete configmap hand-made -n shop")
    for operation in ("configure", "start", "delete"):
        out = shop.execute("execute_operation", {"operation": f"cloudify.interfaces.lifecycle.{operation}",
                                                 "node_ids": ["web"]}).stdout
    assert f"[{lab.host_ip(1)}] namespace shop: namespace \"shop\" deleted" in out, out[-3000:]
    assert lab.exec(1, KUBECTL + "get namespace shop --ignore-not-found -o name").stdout == ""


HAND_MADE = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec: {size: 3}
"""


def kubectl_stdin(lab, args, text):
    return lab.exec(1, KUBECTL + args, input=text).stdout


def identity(lab, what):
    """uid and resourceVersion of an object: the same after a step means the step left it exactly as it was."""
    meta = kubectl_json(lab, "get " + what)["metadata"]
    return meta["uid"], meta["resourceVersion"]


def lifecycle(shop, node, *operations):
    out = ""
    for operation in operations:
        out += shop.execute("execute_operation", {"operation": f"cloudify.interfaces.lifecycle.{operation}",
                                                  "node_ids": [node]}).stdout
    return out


def test_a_namespace_holding_objects_that_are_not_kub_s_is_kept_with_them(lab, shop):
    lifecycle(shop, "web", "configure", "start")     # web makes namespace shop again
    kubectl_stdin(lab, "apply -f -", (DATA / "widgets-crd.yaml").read_text())
    lab.exec(1, KUBECTL + "wait --for=condition=Established crd/widgets.example.com --timeout=30s")
    kubectl_stdin(lab, "apply -f -", HAND_MADE)
    before = {what: identity(lab, what) for what in ("networkpolicy deny-all -n shop", "widget w1 -n shop",
                                                      "namespace shop")}
    out = lifecycle(shop, "web", "delete")
    assert (f"[{lab.host_ip(1)}] namespace shop (made by this workload) still holds networkpolicy/deny-all, "
            f"widget/w1: left as it is") in out
    assert {what: identity(lab, what) for what in before} == before
    assert kubectl_json(lab, "get widget w1 -n shop")["spec"] == {"size": 3}
    assert lab.exec(1, KUBECTL + "get deployment web -n shop --ignore-not-found -o name").stdout == ""


def test_kub_delete_of_a_namespace_holding_workload_objects_is_refused(lab, shop):
    lifecycle(shop, "web", "configure", "start")
    web = instance(shop, "web")["id"]
    before = {what: identity(lab, what) for what in ("namespace shop", "deployment web -n shop",
                                                      "service web -n shop", "networkpolicy deny-all -n shop")}
    refused = shop.execute("kub_delete", {"kind": "namespace", "name": "shop"}, check=False,
                           options=("--task-retries", "0"))
    assert refused.returncode != 0
    assert (f"{lab.host_ip(1)}: namespace shop holds objects of Workload nodes: deployment/web (shop/{web}), "
            f"secret/web-credentials (shop/{web}), service/web (shop/{web}): kub does not delete it here; they go "
            f"with their nodes (cfy uninstall of their deployments), then delete the namespace") in refused.stdout
    assert {what: identity(lab, what) for what in before} == before
    lifecycle(shop, "web", "delete")
    # what was made by hand goes by hand
    lab.exec(1, KUBECTL + "delete networkpolicy deny-all -n shop && " + KUBECTL + "delete widget w1 -n shop && " +
             KUBECTL + "delete namespace shop && " + KUBECTL + "delete crd widgets.example.com")


def test_a_namespace_named_like_a_number_stays_a_name(lab, shop):
    namespace = kubectl_json(lab, "get namespace 123")
    assert namespace["metadata"]["annotations"]["kub/workload"].startswith("shop/numbers_")
    assert kubectl_json(lab, "get configmap numbers -n 123")["data"] == {"one": "1"}
    props = instance(shop, "numbers")["runtime_properties"]
    assert props["namespace"] == "123" and {o["namespace"] for o in props["objects"]} == {"123"}
    out = lifecycle(shop, "numbers", "delete")
    assert f'[{lab.host_ip(1)}] namespace 123: namespace "123" deleted' in out
    assert wait_for(lambda: lab.exec(1, KUBECTL + "get namespace 123 --ignore-not-found -o name").stdout == "", 30)
    out = lifecycle(shop, "numbers", "configure", "start")
    assert "created namespace 123" in out


def test_an_object_made_again_under_the_same_name_is_left(lab, shop):
    recorded = {o["name"]: o["uid"] for o in instance(shop, "numbers")["runtime_properties"]["objects"]}
    assert recorded["again"] == kubectl_json(lab, "get configmap again -n 123")["metadata"]["uid"]
    # deleted by hand and made again, annotation and all (as a restore from a backup would)
    made = kubectl_json(lab, "get configmap again -n 123")
    for field in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
        made["metadata"].pop(field, None)
    lab.exec(1, KUBECTL + "delete configmap again -n 123")
    kubectl_stdin(lab, "create -f -", json.dumps(made))
    before = identity(lab, "configmap again -n 123")
    assert before[0] != recorded["again"]
    out = lifecycle(shop, "numbers", "delete")
    assert (f"[{lab.host_ip(1)}] ConfigMap 123/again is not the object this node made (uid {before[0]}, this node "
            f"made {recorded['again']}): it was made again under the same name: left as it is") in out
    assert f'[{lab.host_ip(1)}] delete workload numbers: configmap "numbers" deleted' in out
    assert identity(lab, "configmap again -n 123") == before
    assert f"[{lab.host_ip(1)}] namespace 123 (made by this workload) still holds configmap/again: left as it is" in out
    assert lab.exec(1, KUBECTL + "get configmap numbers -n 123 --ignore-not-found -o name").stdout == ""


def test_uninstall(lab, shop):
    out = shop.uninstall().stdout
    assert "workload web: nothing to delete" in out
