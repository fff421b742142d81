"""kub_plan with the real cfy CLI on lab hosts (host 1 the master, host 2 a minion): on fresh hosts it lists every
change, on the installed cluster none, after two drifts only those; every host is exactly as it was after each
plan. The day-2 workflows' dry runs tell their changes and make none."""
import re

import pytest
from e2e_support import WEB_IMAGE, cluster_inputs, whole_host_state

from kub_lab.cfy import LocalCfy

pytestmark = pytest.mark.lab
HOSTS = MASTER, MINION = (1, 2)
PLAN_LINE = re.compile(r"^.*?(?:INFO: |\] )([+~=-] \d+\.\d+\.\d+\.\d+ .*)$")
CONFIG = "/etc/containerd/config.toml"
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf "


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    cfy = LocalCfy(tmp_path_factory.mktemp("plan"), blueprint_id="plan")
    cfy.stage()
    cfy.init(cluster_inputs(lab, master=MASTER, minions=(MINION,)))
    try:
        yield cfy
    finally:   # the next module's cluster gets clean hosts
        for i in HOSTS:
            lab.wipe(i)


def planned(lab, cfy):
    """kub_plan's lines {host number: [line without the host's address]}, asserting no host changed."""
    before = {i: whole_host_state(lab, i) for i in HOSTS}
    out = cfy.execute("kub_plan").stdout
    assert "nothing was changed" in out, out[-3000:]
    by_ip = {lab.host_ip(i): i for i in HOSTS}
    found = {i: [] for i in HOSTS}
    for line in out.splitlines():
        match = PLAN_LINE.match(line)
        if match:
            sign, ip, change = match.group(1).split(" ", 2)
            found[by_ip[ip]].append(f"{sign} {change}")
    for i in HOSTS:
        assert whole_host_state(lab, i) == before[i], f"host {i} changed in a plan"
    return found


def cluster_objects(lab):
    """What the day-2 workflows change, as users set it: the objects' specs (a Deployment's generation; the
    version of a ConfigMap or Service, which no controller writes to), and whether a node takes pods."""
    return lab.exec(MASTER, " && ".join(KUBECTL + args for args in (
        "get deployments -A -o custom-columns=NAME:.metadata.name,GEN:.metadata.generation",
        "get configmaps,services -A -o custom-columns=NAME:.metadata.name,V:.metadata.resourceVersion",
        "get nodes -o custom-columns=NAME:.metadata.name,OFF:.spec.unschedulable"))).stdout


def test_a_plan_on_fresh_hosts_lists_every_change_and_changes_nothing(lab, cluster):
    found = planned(lab, cluster)
    master, minion = found[MASTER], found[MINION]
    for lines in (master, minion):
        assert "~ wrote /var/lib/kub/owner" in lines
        assert any(re.fullmatch(r"\+ installed containerd \S+ and runc \S+ under /usr/local", line) for line in lines)
        assert any(line.startswith("+ installed ") and " kubeadm=" in line for line in lines), lines
        assert "~ held kubeadm kubectl kubelet" in lines
        assert "~ restarted containerd" in lines
    assert "+ kubeadm init (its bootstrap token removed)" in master
    assert "+ applied the CNI manifest (kubectl apply, once kubeadm init made the cluster)" in master
    assert f"+ joined the cluster at {lab.host_ip(MASTER)}:6443" in minion
    assert not [line for line in minion if "kubeadm init" in line]


def test_the_installed_cluster_plans_no_change(lab, cluster):
    cluster.install()
    assert planned(lab, cluster) == {MASTER: ["= no change"], MINION: ["= no change"]}


def test_after_two_drifts_the_plan_lists_only_them_and_configure_makes_just_those(lab, cluster):
    lab.exec(MINION, "systemctl stop kubelet")
    lab.exec(MASTER, f"sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' {CONFIG}")
    found = planned(lab, cluster)
    assert found[MINION] == ["~ started the kubelet"]
    assert found[MASTER][0] == f"~ kept the host's own {CONFIG} as {CONFIG}.kub-orig (put back at uninstall)"
    assert found[MASTER][1].startswith(f"~ wrote {CONFIG}: ") and found[MASTER][2:] == ["~ restarted containerd"]
    # the install's configure, run again on every node, changes what the plan listed and nothing else
    out = cluster.execute("execute_operation", {"operation": "cloudify.interfaces.lifecycle.configure"}).stdout
    minor = lab.inputs()["kubernetes_version"]
    assert f"[{lab.host_ip(MINION)}] Kubernetes {minor} packages: started the kubelet" in out, out[-3000:]
    assert f"[{lab.host_ip(MASTER)}] containerd: {'; '.join(line[2:] for line in found[MASTER])}" in out
    assert planned(lab, cluster) == {MASTER: ["= no change"], MINION: ["= no change"]}


def test_day_two_workflows_dry_run_tell_their_changes_and_make_none(lab, cluster):
    lab.exec(MASTER, KUBECTL + f"create deployment shop --image={WEB_IMAGE} --replicas=1 >/dev/null && " +
             KUBECTL + "create configmap moon --from-literal=phase=full >/dev/null")
    # its container running before the hosts are looked at (the cluster's doing, not a dry run's)
    lab.exec(MASTER, KUBECTL + "rollout status deployment/shop --timeout=180s", timeout=200)
    node = f"kubh{MINION}"
    ip = lab.host_ip(MASTER)
    runs = [   # (workflow, parameters, the plan's lines; * stands for any text)
        ("kub_apply", {"manifest": "{apiVersion: v1, kind: ConfigMap, metadata: {name: sky}, data: {a: b}}"},
         [f"+ {ip} configmap/sky created"]),
        ("kub_delete", {"kind": "configmap", "name": "moon"}, [f'- {ip} configmap "moon" deleted']),
        ("kub_scale", {"name": "shop", "replicas": 3}, [f"~ {ip} deployment.apps/shop scaled"]),
        ("kub_run", {"name": "cafe", "image": "nginx"}, [f"+ {ip} deployment.apps/cafe created"]),
        ("kub_expose", {"name": "shop", "port": 80}, [f"+ {ip} service/shop exposed"]),
        ("kub_rollout_restart", {"name": "shop"}, [f"~ {ip} deployment.apps/shop patched"]),
        ("kub_drain", {"nodes": [node]}, [f"~ {ip} node/{node} cordoned", f"- {ip} evicting pod default/shop-*",
                                           f"~ {ip} node/{node} drained"]),
    ]
    before = {i: whole_host_state(lab, i) for i in HOSTS}
    objects = cluster_objects(lab)
    for workflow, params, expected in runs:
        out = cluster.execute(workflow, {**params, "dry_run": True}, options=("--task-retries", "0")).stdout
        told = [match.group(1) for match in map(PLAN_LINE.match, out.splitlines()) if match]
        patterns = [".*".join(map(re.escape, line.split("*"))) for line in expected]
        assert len(told) == len(expected) and all(map(re.fullmatch, patterns, told)), (workflow, out[-2000:])
        assert f"plan of master ({workflow}): " in out and "(nothing was changed)" in out
    assert cluster_objects(lab) == objects
    for i in HOSTS:
        assert whole_host_state(lab, i) == before[i]


def instance_of(cfy, node_id):
    return [i["id"] for i in cfy.node_instances() if i["node_id"] == node_id][0]


def test_check_drift_names_what_drifted_on_hosts_and_heal_sets_it_back(lab, cluster):
    out = cluster.execute("check_drift").stdout
    assert "plan of the drift of master: no change" in out and "plan of the drift of minions: no change" in out, out
    lab.exec(MINION, "systemctl stop kubelet")
    lab.exec(MASTER, f"sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' {CONFIG}")
    out = cluster.execute("check_drift").stdout
    assert f"~ {lab.host_ip(MINION)} started the kubelet" in out, out[-3000:]
    assert f"~ {lab.host_ip(MASTER)} wrote {CONFIG}: " in out
    drifts = {i["node_id"]: i["system_properties"].get("configuration_drift", {}).get("result")
              for i in cluster.node_instances()}
    assert drifts["minions"] == {lab.host_ip(MINION): ["started the kubelet"]}, drifts
    assert list(drifts["master"]) == [lab.host_ip(MASTER)] and "restarted containerd" in drifts["master"][
        lab.host_ip(MASTER)]
    minor = lab.inputs()["kubernetes_version"]
    # (the parts of the log line of the step that sets each drift back)
    kubelet = f"[{lab.host_ip(MINION)}] Kubernetes {minor} packages: started the kubelet"
    for node_id, set_back in (("minions", [kubelet]),
                              ("master", [f"[{lab.host_ip(MASTER)}] containerd: ", "restarted containerd"])):
        out = cluster.execute("heal", {"node_instance_id": instance_of(cluster, node_id)}).stdout
        assert "drifted from what install set up (heal sets it back)" in out, out[-3000:]
        assert any(all(part in line for part in set_back) for line in out.splitlines()), out[-3000:]
    assert lab.exec(MINION, "systemctl is-active kubelet").stdout.strip() == "active"
    assert "SystemdCgroup = true" in lab.exec(MASTER, f"cat {CONFIG}").stdout
    out = cluster.execute("check_drift").stdout
    assert "plan of the drift of master: no change" in out and "plan of the drift of minions: no change" in out
