"""Minions join and leave a live cluster (kub_add_minions, kub_remove_minions) with the real cfy CLI on lab hosts.

One cluster through its life: host 1 the master, host 2 its first minion, with a Deployment of two replicas and a
PodDisruptionBudget; hosts 3 and 4 added; host 4 dropped from the blueprint and removed; host 2 removed (its pods
move, the budget holds); host 4 added again, crashed and removed with force; uninstall resets what the record holds.
"""
import json
import time

import pytest
from e2e_support import WEB, cluster_inputs, host_files, whole_host_state

from kub_lab.cfy import LocalCfy

pytestmark = pytest.mark.lab
MASTER, FIRST, ADDED = 1, 2, (3, 4)
HOSTS = (MASTER, FIRST, *ADDED)
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf "
OPTIONS = ("--task-retries", "0")


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    cfy = LocalCfy(tmp_path_factory.mktemp("scaling"), blueprint_id="scaling")
    cfy.stage()
    cfy.inputs = cluster_inputs(lab, master=MASTER, minions=(FIRST,))
    cfy.init(cfy.inputs)
    try:
        cfy.install()
        lab.exec(MASTER, f"{KUBECTL} apply -f - >/dev/null", input=WEB)
        yield cfy
    finally:   # (a wipe boots a crashed host too)
        for i in HOSTS:
            lab.wipe(i)


def kub(cfy, workflow, check=True, **params):
    result = cfy.execute(workflow, params, check=check, options=OPTIONS)
    return result.stdout if check else result


def nodes(lab):
    listing = json.loads(lab.exec(MASTER, KUBECTL + "get nodes -o json").stdout)["items"]
    return {item["metadata"]["name"]: [c["status"] for c in item["status"]["conditions"] if c["type"] == "Ready"][0]
            for item in listing}


def record(cfy):
    return [i["runtime_properties"] for i in cfy.node_instances() if i["node_id"] == "minions"][0]


def clean(lab, i):
    """Nothing of the cluster's left on the host: no kubeadm state, no mark of kub's, no kubelet running."""
    left = lab.exec(i, "ls /etc/kubernetes/*.conf /var/lib/kub/owner 2>/dev/null; systemctl is-active kubelet; true")
    return left.stdout.split() == ["inactive"]


def test_a_dry_run_of_adding_tells_the_plan_and_changes_nothing(lab, cluster):
    before = {i: whole_host_state(lab, i) for i in ADDED}
    out = kub(cluster, "kub_add_minions", ips=[lab.host_ip(i) for i in ADDED], dry_run=True)
    for i in ADDED:
        assert f"+ {lab.host_ip(i)} joined the cluster at {lab.host_ip(MASTER)}:6443" in out, out[-3000:]
        assert whole_host_state(lab, i) == before[i]
    assert "plan of kub_add_minions to minions: " in out and set(nodes(lab)) == {"kubh1", "kubh2"}


def test_adding_two_minions_changes_no_other_host(lab, cluster):
    before = {i: host_files(lab, i) for i in (MASTER, FIRST)}
    out = kub(cluster, "kub_add_minions", ips=[lab.host_ip(i) for i in ADDED])
    assert nodes(lab) == {"kubh1": "True", "kubh2": "True", "kubh3": "True", "kubh4": "True"}
    assert f"added to minions: kubh3 ({lab.host_ip(3)}), kubh4 ({lab.host_ip(4)})" in out
    assert host_files(lab, FIRST) == before[FIRST]
    assert f"[{lab.host_ip(FIRST)}]" not in out   # the existing minion was not even logged in to
    assert record(cluster)["hosts"] == [lab.host_ip(i) for i in (FIRST, *ADDED)]
    assert not lab.exec(MASTER, "kubeadm token list").stdout.strip()   # the one token made for them is gone


@pytest.mark.parametrize("workflow,params,expected", [
    ("kub_add_minions", lambda lab: {"ips": [lab.host_ip(3)]}, "{ip3}: is already node kubh3 of this cluster"),
    ("kub_add_minions", lambda lab: {"ips": [lab.host_ip(MASTER)]}, "{ip1}: is a master of the cluster"),
    ("kub_add_minions", lambda lab: {"ips": ["not-an-ip"]}, "'not-an-ip': not an IP address"),
    ("kub_remove_minions", lambda lab: {"ips": [lab.host_ip(5)]}, "{ip5}: is not a host of this cluster"),
    ("kub_remove_minions", lambda lab: {"nodes": ["nosuch"]}, "nosuch is not a node of this cluster"),
    ("kub_remove_minions", lambda lab: {"ips": [lab.host_ip(MASTER)]}, "is a master of the cluster"),
    ("kub_remove_minions", lambda lab: {"ips": [lab.host_ip(i) for i in (FIRST, *ADDED)]},
     "would leave the cluster no node that takes pods"),
])
def test_bad_requests_are_refused_before_any_change(lab, cluster, workflow, params, expected):
    before = {i: host_files(lab, i) for i in HOSTS}
    result = kub(cluster, workflow, check=False, **params(lab))
    assert result.returncode != 0
    wanted = expected.format(ip1=lab.host_ip(MASTER), ip3=lab.host_ip(3), ip5=lab.host_ip(5))
    assert wanted in result.stdout, result.stdout[-2000:]
    assert {i: host_files(lab, i) for i in HOSTS} == before


def test_a_host_dropped_from_the_blueprint_is_named_and_its_removal_cleans_it(lab, cluster):
    # cfy init again, as a user would after editing minion_ips: cfy's record of the added hosts is gone
    cluster.init({**cluster.inputs, "cluster_id": cluster.outputs()["cluster_id"],
                  "minion_ips": [lab.host_ip(FIRST), lab.host_ip(3)]})
    refused = cluster.install(check=False)
    assert refused.returncode != 0
    assert f"the cluster has node kubh4 ({lab.host_ip(4)}) at address no node of this deployment lists" in \
        refused.stdout, refused.stdout[-2000:]
    out = kub(cluster, "kub_remove_minions", ips=[lab.host_ip(4)])
    assert f"removed from minions: {lab.host_ip(4)}" in out
    assert "kubh4" not in nodes(lab) and clean(lab, 4)
    cluster.install()
    assert record(cluster)["hosts"] == [lab.host_ip(FIRST), lab.host_ip(3)]


def test_removing_a_minion_drains_it_within_the_budget_and_cleans_it(lab, cluster):
    before = {i: whole_host_state(lab, i) for i in (MASTER, FIRST)}
    planned = kub(cluster, "kub_remove_minions", nodes=["kubh2"], dry_run=True)
    assert f"- {lab.host_ip(MASTER)} drained and deleted node kubh2" in planned, planned[-3000:]
    assert f"- {lab.host_ip(FIRST)} kubeadm reset" in planned
    assert {i: whole_host_state(lab, i) for i in (MASTER, FIRST)} == before and "kubh2" in nodes(lab)
    out = kub(cluster, "kub_remove_minions", nodes=["kubh2"])
    assert "drained and deleted node kubh2" in out, out[-3000:]
    assert "kubh2" not in nodes(lab) and clean(lab, FIRST)
    web = json.loads(lab.exec(MASTER, KUBECTL + "get pods -l app=web -o json").stdout)["items"]
    assert {pod["spec"]["nodeName"] for pod in web} == {"kubh3"}
    assert record(cluster)["hosts"] == [lab.host_ip(3)] and record(cluster)["removed_hosts"] == [lab.host_ip(FIRST)]


def test_a_crashed_minion_is_removed_only_with_force(lab, cluster):
    kub(cluster, "kub_add_minions", ips=[lab.host_ip(4)])
    lab.crash(4)
    refused = kub(cluster, "kub_remove_minions", check=False, ips=[lab.host_ip(4)])
    assert refused.returncode != 0 and "nothing was removed" in refused.stdout, refused.stdout[-2000:]
    assert "kubh4" in nodes(lab)
    out = kub(cluster, "kub_remove_minions", ips=[lab.host_ip(4)], force=True)
    assert f"[{lab.host_ip(4)}] not cleaned: the host cannot be reached" in out, out[-3000:]
    assert "kubh4" not in nodes(lab)
    assert record(cluster)["hosts"] == [lab.host_ip(3)]
    # booted again without a wipe, it registers its node again: check_status names it
    lab.boot(4)
    deadline = time.monotonic() + 120
    while "kubh4" not in nodes(lab):
        assert time.monotonic() < deadline, "the booted host did not register its node again"
        time.sleep(2)
    failed = cluster.execute("check_status", check=False)
    assert failed.returncode != 0
    assert f"the cluster has node kubh4 ({lab.host_ip(4)}) at address no node of this deployment lists" in \
        failed.stdout, failed.stdout[-2000:]
    lab.wipe(4)
    lab.exec(MASTER, KUBECTL + "delete node kubh4")


def test_drift_checks_and_uninstall_work_on_what_the_record_holds_and_never_touch_removed_hosts(lab, cluster):
    removed = host_files(lab, FIRST)
    out = cluster.execute("check_drift", {"node_ids": ["minions"]}).stdout
    assert f"= {lab.host_ip(3)} no change" in out and f"{lab.host_ip(FIRST)}" not in out, out[-3000:]
    # (the budget would hold the last minion's drain: uninstall says so, and it goes first)
    lab.exec(MASTER, KUBECTL + "delete poddisruptionbudget web")
    cluster.uninstall()
    assert clean(lab, 3) and clean(lab, MASTER)
    assert host_files(lab, FIRST) == removed   # never touched again
