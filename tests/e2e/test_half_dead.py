"""Uninstall of a half-dead cluster with the real cfy CLI: a drain held by a PodDisruptionBudget, then a master
that crashed. What kub leaves is named in one line, and a re-run finishes."""
import json
import re
import time

import pytest
from e2e_support import MASTER, MINIONS, WEB_IMAGE, cluster_inputs

from kub_lab.cfy import LocalCfy
from kub_lab.identity import hostname

pytestmark = pytest.mark.lab
HOSTS = (MASTER, *MINIONS)
HELD = MINIONS[0]
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
# a Deployment on one minion and a budget that allows none of its pods to go
SHOP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: %s}
      containers: [{name: web, image: %s}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
"""
# what the hosts have of their own: kept through every uninstall
OWN = "mkdir -p /srv/own /etc/kubernetes && echo mine > /srv/own/notes && echo mine > /etc/kubernetes/notes.own"
OWN_STATE = "cat /srv/own/notes /etc/kubernetes/notes.own"


@pytest.fixture(scope="module")
def deployment(lab, tmp_path_factory):
    cfy = LocalCfy(tmp_path_factory.mktemp("half-dead"), blueprint_id="halfdead")
    cfy.stage()
    cfy.kubeconfig = cfy.workdir / "admin.conf"
    cfy.inputs = cluster_inputs(lab, local_kubeconfig_path=str(cfy.kubeconfig), drain_timeout=10)
    for i in HOSTS:
        lab.exec(i, OWN)
    yield cfy
    for i in HOSTS:
        lab.wipe(i)


def kub_state(lab, i):
    """kub's state on a host: the files kubeadm and kub leave, and whether the kubelet runs."""
    # (kub's record of the packages it installed stays with them, for a later purge)
    return lab.exec(i, "find /etc/kubernetes /etc/cni/net.d /var/lib/kub /var/lib/etcd /root/.kube/config -type f "
                       "-not -path '/var/lib/kub/packages/*' 2>/dev/null; systemctl is-active kubelet; "
                       "true").stdout.split()


def pods(lab, ready=False):
    """{pod name: node} of the web app's pods (those Ready only, with ready)."""
    listing = json.loads(lab.exec(MASTER, f"{KUBECTL} get pods -n default -l app=web -o json").stdout)
    return {item["metadata"]["name"]: item["spec"].get("nodeName") for item in listing["items"]
            if not ready or any(c["type"] == "Ready" and c["status"] == "True"
                                for c in item.get("status", {}).get("conditions", []))}


def test_a_drain_held_by_a_budget_fails_naming_it_and_force_drain_then_converges(lab, deployment):
    deployment.init(deployment.inputs)
    deployment.install()
    lab.exec(MASTER, f"{KUBECTL} apply -f -", input=SHOP % (hostname(HELD), WEB_IMAGE))
    deadline = time.monotonic() + 120
    while len(pods(lab, ready=True)) < 2:   # (a pod not yet running is evicted whatever its budget says)
        assert time.monotonic() < deadline, pods(lab)
        time.sleep(1)
    before = pods(lab)
    assert set(before.values()) == {hostname(HELD)}

    result = deployment.uninstall(check=False)
    assert result.returncode != 0
    held = (f"{lab.host_ip(MASTER)}: draining node {hostname(HELD)} did not finish within 10 s, held by "
            f"PodDisruptionBudget default/web (protecting default/{', default/'.join(sorted(before))}): raise "
            f"drain_timeout, change the budget, or set force_drain: true")
    # the minions' stop, and the master's delete that Cloudify runs beside it, both meet the budget
    for task in (r"minions_\w+\.stop", r"master_\w+\.delete"):
        assert re.search(rf"\[{task}\] Task failed '[\w.]+' -> {re.escape(held)}", result.stdout), \
            result.stdout[-3000:]
    # nothing was reset, the pods and the budget are there, and the node takes pods again
    assert pods(lab) == before
    assert lab.exec(MASTER, f"{KUBECTL} get pdb web -n default -o name").stdout.strip() == \
        "poddisruptionbudget.policy/web"
    node = json.loads(lab.exec(MASTER, f"{KUBECTL} get node {hostname(HELD)} -o json").stdout)
    assert not node["spec"].get("unschedulable")
    for i in HOSTS:
        state = kub_state(lab, i)
        assert "/var/lib/kub/owner" in state and state[-1] == "active", (i, state)

    # the documented way to change a setting: init again with the cluster's id, install (no change), then uninstall
    cluster_id = deployment.outputs()["cluster_id"]
    deployment.init({**deployment.inputs, "force_drain": True, "cluster_id": cluster_id})
    deployment.install()
    out = deployment.uninstall().stdout
    assert f"drained and deleted node {hostname(HELD)}" in out
    for i in HOSTS:
        assert kub_state(lab, i) == ["/etc/kubernetes/notes.own", "inactive"], (i, kub_state(lab, i))
        assert lab.exec(i, OWN_STATE).stdout.split() == ["mine", "mine"]
    assert not deployment.kubeconfig.exists()


def test_uninstall_with_the_master_crashed_resets_the_minions_and_a_rerun_finishes(lab, deployment):
    deployment.init(deployment.inputs)
    deployment.install()
    lab.crash(MASTER)
    try:
        result = deployment.uninstall(check=False)
    finally:
        lab.boot(MASTER)
    out = result.stdout
    assert result.returncode != 0
    master_ip = lab.host_ip(MASTER)
    names = ", ".join(hostname(i) for i in MINIONS)
    # a crashed machine is silent: no answer, or no route once its ARP entry is gone
    silent = r"\(cannot reach SSH port 22 \((no answer within 5 s|\[Errno 113\] No route to host)\)\)"
    assert re.search(rf"\[{re.escape(master_ip)}\] the master master cannot be reached {silent}: nodes "
                     rf"{re.escape(names)} were not drained and stay registered until the master is reset; their own "
                     rf"hosts are reset all the same", out), out[-3000:]
    assert re.search(rf"{re.escape(master_ip)}: not reset, the host cannot be reached {silent}: kub's cluster state "
                     rf"stays on it; run uninstall again once it answers", out), out[-3000:]
    for i in MINIONS:
        assert kub_state(lab, i) == ["/etc/kubernetes/notes.own", "inactive"], (i, kub_state(lab, i))
        assert lab.exec(i, OWN_STATE).stdout.split() == ["mine", "mine"]
    assert lab.exec(MASTER, "test -s /etc/kubernetes/admin.conf && cat /var/lib/kub/owner").stdout.strip()
    assert deployment.kubeconfig.exists()   # the cluster is still there: its kubeconfig stays until it is reset

    again = deployment.uninstall().stdout
    assert "Stop: instance already" in again or "already deleted" in again
    assert kub_state(lab, MASTER) == ["/etc/kubernetes/notes.own", "inactive"], kub_state(lab, MASTER)
    assert lab.exec(MASTER, OWN_STATE).stdout.split() == ["mine", "mine"]
    assert not deployment.kubeconfig.exists()
