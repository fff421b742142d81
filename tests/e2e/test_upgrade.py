"""kub_upgrade with the real cfy CLI on lab hosts: a 1.35 cluster (host 1 the master, hosts 2 and 3 minions,
containerd from its release files) with a Deployment of two replicas and a PodDisruptionBudget of minAvailable 1.
A dry run tells the plan and changes nothing; a NotReady minion is refused before any change; the upgrade to 1.37
goes in two hops in one run, the Deployment never below one ready replica; a re-run changes nothing; a downgrade
is refused. A second cluster (host 4 the master, host 5 a minion, on 1.36) has its minion crashed in the middle of
its upgrade; booted, the re-run finishes it without redoing the master or the minion's finished steps. Hosts 1-5 are
wiped at the end."""
import json
import threading
import time

import pytest
from e2e_support import WEB, cluster_inputs, host_state

from kub_lab import repo
from kub_lab.cfy import LocalCfy

pytestmark = pytest.mark.lab
MASTER, MINIONS = 1, (2, 3)
HOSTS = (MASTER, *MINIONS)
CRASH_MASTER, CRASHED = 4, 5
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf "
OPTIONS = ("--task-retries", "0")


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    cfy = LocalCfy(tmp_path_factory.mktemp("upgrade"), blueprint_id="upgrade")
    cfy.stage()
    cfy.init(cluster_inputs(lab, master=MASTER, minions=MINIONS, kubernetes_version="1.35",
                            containerd_source="release"))
    try:
        cfy.install()
        lab.exec(MASTER, f"{KUBECTL} apply -f - >/dev/null", input=WEB)
        lab.exec(MASTER, f"{KUBECTL} wait --for=condition=Available deployment/web --timeout=120s", timeout=150)
        yield cfy
    finally:
        for i in HOSTS:
            lab.wipe(i)


def kub_upgrade(cfy, check=True, **params):
    result = cfy.execute("kub_upgrade", params, check=check, options=OPTIONS)
    return result.stdout if check else result


def kubelets(lab):
    items = json.loads(lab.exec(MASTER, KUBECTL + "get nodes -o json").stdout)["items"]
    return {i["metadata"]["name"]: i["status"]["nodeInfo"]["kubeletVersion"] for i in items}


def api_version(lab):
    return json.loads(lab.exec(MASTER, KUBECTL + "version -o json").stdout)["serverVersion"]["gitVersion"]


def ready(lab, node):
    out = lab.exec(MASTER, KUBECTL + f"get node {node} -o jsonpath='{{.status.conditions[?(@.type==\"Ready\")]"
                   f".status}}'").stdout
    return out.strip()


def snapshot(lab):
    return {i: host_state(lab, i) + lab.exec(i, "cat /etc/apt/sources.list.d/kubernetes.list /var/lib/kub/cluster.env;"
                                            " kubelet --version; kubeadm version -o short").stdout for i in HOSTS}


def newest(minor):
    return repo.kubernetes_versions(minor)[-1]


def test_a_dry_run_tells_the_plan_and_changes_nothing(lab, cluster):
    before = snapshot(lab)
    out = kub_upgrade(cluster, kubernetes_version="1.37", dry_run=True)
    for i in HOSTS:
        name = lab.exec(i, "hostname").stdout.strip()
        assert f"~ {name} ({lab.host_ip(i)}): {newest('1.35')} -> {newest('1.37')}" in out, out[-3000:]
    assert "kubeadm upgrade apply v%s" % newest("1.36") in out and "kubeadm upgrade node" in out, out[-3000:]
    assert snapshot(lab) == before
    assert api_version(lab) == "v" + newest("1.35")


def test_a_notready_minion_is_refused_before_any_change(lab, cluster):
    name = lab.exec(3, "hostname").stdout.strip()
    lab.exec(3, "systemctl stop kubelet")
    try:
        deadline = time.monotonic() + 90
        while ready(lab, name) == "True" and time.monotonic() < deadline:
            time.sleep(2)
        before = snapshot(lab)
        result = kub_upgrade(cluster, check=False, kubernetes_version="1.37")
        assert result.returncode != 0
        assert f"not every node is Ready ({name} ({lab.host_ip(3)}): " in result.stdout
        assert snapshot(lab) == before
    finally:
        lab.exec(3, "systemctl start kubelet")
        lab.exec(MASTER, KUBECTL + f"wait --for=condition=Ready node/{name} --timeout=120s", timeout=150)


def test_the_upgrade_goes_two_minors_in_one_run_keeping_the_budget(lab, cluster):
    lowest, stop = [2], threading.Event()

    def watch():   # the Deployment's ready replicas all along the workflow
        while not stop.is_set():
            out = lab.exec(MASTER, KUBECTL + "get deployment web -o jsonpath={.status.readyReplicas}",
                           check=False).stdout.strip()
            if out.isdigit():
                lowest[0] = min(lowest[0], int(out))
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out = kub_upgrade(cluster, kubernetes_version="1.37")
    finally:
        stop.set()
        watcher.join()
    target = "v" + newest("1.37")
    assert set(kubelets(lab).values()) == {target}, kubelets(lab)
    assert api_version(lab) == target
    config = lab.exec(MASTER, KUBECTL + "get configmap -n kube-system kubeadm-config "
                      "-o jsonpath={.data.ClusterConfiguration}").stdout
    assert f"kubernetesVersion: {target}" in config
    assert lowest[0] >= 1, out[-3000:]
    for i in HOSTS:
        assert "kubernetes_version=1.37" in lab.exec(i, "cat /var/lib/kub/cluster.env").stdout
        assert "/v1.37/" in lab.exec(i, "cat /etc/apt/sources.list.d/kubernetes.list").stdout
        assert lab.exec(i, "apt-mark showhold").stdout.split() == ["kubeadm", "kubectl", "kubelet"]
    master = [i for i in cluster.node_instances() if i["node_id"] == "master"][0]["runtime_properties"]
    assert master["package_versions"]["kubelet"].startswith(newest("1.37"))


def test_a_rerun_changes_nothing_and_a_downgrade_is_refused(lab, cluster):
    before = snapshot(lab)
    out = kub_upgrade(cluster, kubernetes_version="1.37")
    assert "every node runs Kubernetes 1.37 already: nothing to do" in out
    assert snapshot(lab) == before
    result = kub_upgrade(cluster, check=False, kubernetes_version="1.36")
    assert result.returncode != 0
    assert ("kubernetes_version 1.36 is lower than the running cluster's 1.37, and Kubernetes cannot be downgraded"
            in result.stdout)
    assert snapshot(lab) == before


@pytest.fixture(scope="module")
def crash_cluster(lab, tmp_path_factory):
    cfy = LocalCfy(tmp_path_factory.mktemp("upgrade-crash"), blueprint_id="upgrade-crash")
    cfy.stage()
    cfy.init(cluster_inputs(lab, master=CRASH_MASTER, minions=(CRASHED,), kubernetes_version="1.36",
                            containerd_source="release"))
    try:
        cfy.install()
        yield cfy
    finally:   # (a wipe boots a crashed host too)
        for i in (CRASH_MASTER, CRASHED):
            lab.wipe(i)


def test_a_minion_crashed_mid_upgrade_is_finished_by_a_rerun_without_redoing_the_master(lab, crash_cluster):
    crashed_at, name = [], lab.exec(CRASHED, "hostname").stdout.strip()

    def crash_after_kubeadm_upgrade_node():   # the master is done; the minion's drain and kubelet are next
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            steps = lab.exec(CRASHED, "cat /var/lib/kub/upgrade-1.37 2>/dev/null; true").stdout.split()
            if "node" in steps:
                lab.crash(CRASHED)
                crashed_at.append(steps)
                return
            time.sleep(0.1)

    crasher = threading.Thread(target=crash_after_kubeadm_upgrade_node, daemon=True)
    crasher.start()
    first = kub_upgrade(crash_cluster, check=False, kubernetes_version="1.37")
    crasher.join()
    assert crashed_at and first.returncode != 0, first.stdout[-3000:]
    assert lab.host_ip(CRASHED) in first.stdout, first.stdout[-3000:]
    master_name = lab.exec(CRASH_MASTER, "hostname").stdout.strip()
    lab.boot(CRASHED)
    assert "kubernetes_version=1.36" in lab.exec(CRASHED, "cat /var/lib/kub/cluster.env").stdout
    lab.exec(CRASH_MASTER, KUBECTL + f"wait --for=condition=Ready node/{name} --timeout=120s", timeout=150)

    out = kub_upgrade(crash_cluster, kubernetes_version="1.37")
    assert f"= {master_name} ({lab.host_ip(CRASH_MASTER)}): 1.37 already" in out, out[-3000:]
    assert "kubeadm upgrade apply" not in out and "kubeadm upgrade node" not in out, out[-3000:]
    target = "v" + newest("1.37")
    items = json.loads(lab.exec(CRASH_MASTER, KUBECTL + "get nodes -o json").stdout)["items"]
    assert {i["status"]["nodeInfo"]["kubeletVersion"] for i in items} == {target}
    assert lab.exec(CRASH_MASTER, KUBECTL + f"get node {name} -o jsonpath={{.spec.unschedulable}}").stdout == ""
    assert "kubernetes_version=1.37" in lab.exec(CRASHED, "cat /var/lib/kub/cluster.env").stdout
    assert lab.exec(CRASHED, "ls /var/lib/kub/upgrade-1.37 2>/dev/null; true").stdout == ""
