"""A cluster is its id, not its deployment's name: another cfy work dir with the same blueprint id is another
cluster; the owner mark is checked again under the host's lock; and a master is initialised only once kub's
record is there, so an init that failed after kubeadm wrote admin.conf is done again by a re-run."""
import logging
import threading

import pytest
from e2e_support import SPARE, cluster_inputs, host_state

from kub_lab.cfy import LocalCfy
from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.hosts import facts as host_facts
from kub_plugin.hosts import runner
from kub_plugin.hosts.ssh import Host

pytestmark = pytest.mark.lab
A, B = SPARE
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
FAULT = "/etc/kub-lab/control-plane-fails-once"   # the lab's stand-in control plane fails its first start


@pytest.fixture(autouse=True)
def spare_hosts_fresh(lab):
    yield
    for i in SPARE:
        lab.wipe(i)


def work_dir(tmp_path, name, blueprint_id="kub"):
    cfy = LocalCfy(tmp_path / name, blueprint_id=blueprint_id)
    cfy.stage()
    return cfy


def ready_nodes(lab, master):
    out = lab.exec(master, f"{KUBECTL} get nodes --no-headers").stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.split()[1] == "Ready")


def test_another_work_dir_with_the_same_blueprint_id_is_another_cluster(lab, tmp_path):
    first = work_dir(tmp_path, "first")
    first.init(cluster_inputs(lab, master=A, minions=()))
    first.install()
    cluster_id = first.outputs()["cluster_id"]
    assert lab.exec(A, "cat /var/lib/kub/owner").stdout == f"{cluster_id} kub/master\n"

    # the same blueprint id and hosts from another work dir: refused, naming the first; no host changes
    before = {i: host_state(lab, i) for i in SPARE}
    second = work_dir(tmp_path, "second")
    second.init(cluster_inputs(lab, master=A, minions=(B,)))
    result = second.install(check=False)
    assert result.returncode != 0
    assert (f"{lab.host_ip(A)}: belongs to another kub cluster (kub/master): use another host, or uninstall that "
            f"deployment first") in result.stdout, result.stdout[-3000:]
    assert {i: host_state(lab, i) for i in SPARE} == before
    assert "nothing to undo" in second.uninstall().stdout
    assert {i: host_state(lab, i) for i in SPARE} == before and ready_nodes(lab, A) == [f"kubh{A}"]

    # adding a minion: cfy init anew forgets the id, so the first's own hosts are refused until it is given back
    first.init(cluster_inputs(lab, master=A, minions=(B,)))
    result = first.install(check=False)
    assert result.returncode != 0
    assert "set the master's cluster_id to the cluster_id output it had" in result.stdout, result.stdout[-3000:]
    assert {i: host_state(lab, i) for i in SPARE} == before
    first.init(cluster_inputs(lab, master=A, minions=(B,), cluster_id=cluster_id))
    out = first.install().stdout
    assert f"[{lab.host_ip(A)}] kubeadm init: already initialised by this deployment, no change" in out
    assert ready_nodes(lab, A) == [f"kubh{A}", f"kubh{B}"] and first.outputs()["cluster_id"] == cluster_id
    assert lab.exec(B, "cat /var/lib/kub/owner").stdout == f"{cluster_id} kub/master\n"

    # the first's uninstall still works: both hosts reset
    first.uninstall()
    for i in SPARE:
        assert lab.exec(i, "ls /var/lib/kub/owner /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf 2>&1; "
                           "systemctl is-active kubelet", check=False).stdout.count("No such file") == 3


def test_an_init_that_failed_after_admin_conf_is_done_again_by_a_rerun(lab, new_cfy):
    lab.exec(A, f"mkdir -p {FAULT.rsplit('/', 1)[0]} && echo 3s > {FAULT}")
    cfy = new_cfy()
    cfy.init(cluster_inputs(lab, master=A, minions=(B,)))
    result = cfy.install(check=False)
    assert result.returncode != 0
    assert (f"{lab.host_ip(A)}: kubeadm init failed: error execution phase wait-control-plane: could not initialize "
            f"a Kubernetes cluster (kubeadm's output: /var/lib/kub/init.log): fix that, then run install again, which "
            f"starts this init over") in result.stdout, result.stdout[-3000:]
    # kubeadm wrote admin.conf before it gave up; kub's record of a finished init is not there
    assert lab.exec(A, "ls /etc/kubernetes/admin.conf /var/lib/kub/cluster.env 2>&1", check=False).stdout == \
        ("ls: cannot access '/var/lib/kub/cluster.env': No such file or directory\n/etc/kubernetes/admin.conf\n")

    out = cfy.install().stdout   # the same install again, no uninstall between
    assert (f"[{lab.host_ip(A)}] kubeadm init: /etc/kubernetes/admin.conf is there without kub's record of a finished "
            f"init (an earlier init failed half way): resetting this host and initialising it again") in out
    assert f"[{lab.host_ip(A)}] kubeadm init: kubeadm reset; kubeadm init (its bootstrap token removed)" in out
    assert ready_nodes(lab, A) == [f"kubh{A}", f"kubh{B}"]
    assert "Task started" not in cfy.install().stdout

    cfy.uninstall()
    for i in SPARE:
        assert lab.exec(i, "ls /var/lib/kub/owner /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf 2>&1",
                        check=False).stdout.count("No such file") == 3


def prepare_host(lab, i, cluster_id, name, checked=None):
    """kub's first host step (owner mark, kernel, swap), as configure runs it, under the host's lock, after the
    facts it is checked on are read (and, with `checked`, a threading.Barrier, once every run has read them)."""
    settings = ssh_settings({"ssh": {"private_key_path": lab.ssh_private_key_path,
                                     "known_hosts_path": lab.known_hosts_path}}, lab.host_ip(i))
    with Host(settings, logging.getLogger("kub-test")) as host:
        facts = host_facts.gather(host)
        if checked:
            checked.wait(timeout=60)
        try:
            runner.apply(host, "owner mark, kernel and swap", "prepare-host.sh", timeout=120,
                         env={"KUB_CLUSTER_ID": cluster_id, "KUB_OWNER": f"{cluster_id} {name}"})
        except runner.StepError as err:
            return str(err), facts
        return "", facts


OURS, THEIRS = "5b0e2c1a-7d4f-4e8a-9c3b-2f1e0d9c8b7a", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def test_the_owner_mark_is_checked_again_under_the_hosts_lock(lab):
    # a mark another deployment wrote after this one's check
    lab.exec(A, f"mkdir -p /var/lib/kub && echo '{THEIRS} other/master' > /var/lib/kub/owner")
    before = lab.exec(A, "cat /var/lib/kub/owner; ls /etc/modules-load.d /etc/sysctl.d").stdout
    error, _ = prepare_host(lab, A, OURS, "kub/master")
    assert error == (f"{lab.host_ip(A)}: owner mark, kernel and swap failed: belongs to another kub cluster "
                     f"(other/master), marked since this run checked the host: use another host, or uninstall that "
                     f"deployment first")
    assert lab.exec(A, "cat /var/lib/kub/owner; ls /etc/modules-load.d /etc/sysctl.d").stdout == before

    # a kubeadm cluster that came without any mark
    lab.exec(B, "mkdir -p /etc/kubernetes && echo 'apiVersion: v1' > /etc/kubernetes/kubelet.conf")
    error, _ = prepare_host(lab, B, OURS, "kub/master")
    assert error.startswith(f"{lab.host_ip(B)}: owner mark, kernel and swap failed: already belongs to a Kubernetes "
                            f"cluster this deployment did not make (/etc/kubernetes holds its config)")
    assert lab.exec(B, "ls /var/lib/kub/owner /etc/modules-load.d/k8s.conf 2>&1", check=False).stdout.count(
        "No such file") == 2


def test_two_deployments_preparing_one_host_at_once_one_wins(lab):
    results, checked = {}, threading.Barrier(2)
    runs = [threading.Thread(target=lambda cid=cid, name=name: results.update(
                {cid: prepare_host(lab, A, cid, name, checked)}))
            for cid, name in ((OURS, "kub/master"), (THEIRS, "other/master"))]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    # both looked at an unmarked host; under the lock the second found the first's mark
    assert all(facts.owner == "" for _, facts in results.values())
    errors = sorted(error for error, _ in results.values())
    assert errors[0] == "" and "belongs to another kub cluster" in errors[1]
    winner = OURS if results[OURS][0] == "" else THEIRS
    assert lab.exec(A, "cat /var/lib/kub/owner").stdout.split()[0] == winner
