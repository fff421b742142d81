"""What kub must never do, through the real cfy CLI: change a host before every host of the cluster passed its
checks, or reset, drain or take over a cluster it did not make; and never work on a host another kub run holds."""
import pytest
from e2e_support import SPARE, assert_refused, cluster_inputs, host_state

pytestmark = pytest.mark.lab
A, B = SPARE
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"


@pytest.fixture(scope="module", autouse=True)
def spare_hosts_fresh(lab):
    yield
    for i in SPARE:
        lab.wipe(i)


def test_an_unreachable_minion_fails_the_install_before_the_master_is_touched(lab, new_cfy):
    lab.crash(B)
    try:
        assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=(B,)),
                       f"{lab.host_ip(B)}: cannot reach SSH port 22 (", hosts=(A,))
    finally:
        lab.boot(B)


def test_two_hosts_with_one_hostname_are_refused(lab, new_cfy):
    lab.exec(B, f"hostname kubh{A}")    # as after cloning a VM
    try:
        assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=(B,)),
                       f"{lab.host_ip(B)}: hostname 'kubh{A}' is also the hostname of {lab.host_ip(A)}")
    finally:
        lab.exec(B, f"hostname kubh{B}")


def test_a_host_another_kub_run_holds_is_left_alone(lab, new_cfy):
    lab.exec(A, "mkdir -p /var/lib/kub && systemd-run --unit kub-test-lock flock /var/lib/kub/lock sleep 600")
    try:
        cfy = new_cfy()
        cfy.init(cluster_inputs(lab, master=A, minions=()))
        before = host_state(lab, A)
        result = cfy.install(check=False)
        assert result.returncode != 0
        assert f"{lab.host_ip(A)}: another kub run is working on this host" in result.stdout, result.stdout[-3000:]
        assert host_state(lab, A) == before
        # the refused install's uninstall finds nothing of its own there
        out = cfy.uninstall().stdout
        assert f"[{lab.host_ip(A)}] not a host of this deployment's cluster (owner: none): left as it is" in out
        assert host_state(lab, A) == before
    finally:
        lab.exec(A, "systemctl stop kub-test-lock", check=False)


@pytest.fixture(scope="module")
def foreign_cluster(lab, tmp_path_factory):
    """A running one-node cluster on host A that this test's deployments did not make."""
    from kub_lab.cfy import LocalCfy
    lab.wipe(A)
    other = LocalCfy(tmp_path_factory.mktemp("other"), blueprint_id="other")
    other.stage()
    other.init(cluster_inputs(lab, master=A, minions=(), local_kubeconfig_path=str(other.workdir / "a.conf")))
    other.install()
    return other


def running(lab, i):
    """The foreign cluster's vital signs."""
    state = lab.exec(i, f"test -e /etc/kubernetes/admin.conf && echo conf; systemctl is-active kubelet; "
                        f"{KUBECTL} get nodes -o name", check=False).stdout.split()
    return state == ["conf", "active", f"node/kubh{i}"]


def test_a_host_of_another_kub_deployment_is_refused(lab, new_cfy, foreign_cluster):
    assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=()),
                   f"{lab.host_ip(A)}: belongs to another kub cluster (other/master)")
    assert running(lab, A)


def test_a_foreign_master_is_refused_and_its_uninstall_leaves_it_running(lab, new_cfy, foreign_cluster):
    lab.exec(A, "rm -rf /var/lib/kub")      # now nothing says kub made it
    # the minion B is fine, and stays untouched too: Cloudify goes on to it although its master failed
    cfy = assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=(B,)),
                         f"{lab.host_ip(A)}: already belongs to a Kubernetes cluster this deployment did not make")
    before = {i: host_state(lab, i) for i in SPARE}
    cfy.uninstall()
    assert {i: host_state(lab, i) for i in SPARE} == before and running(lab, A)


def test_a_foreign_minion_is_refused_before_the_master_is_touched_and_its_uninstall_leaves_it(lab, new_cfy,
                                                                                             foreign_cluster):
    cfy = assert_refused(lab, new_cfy, cluster_inputs(lab, master=B, minions=(A,)),
                         f"{lab.host_ip(A)}: already belongs to a Kubernetes cluster this deployment did not make")
    before = {i: host_state(lab, i) for i in SPARE}
    out = cfy.uninstall().stdout
    assert "Stop: instance already" in out or "nothing to undo" in out
    assert {i: host_state(lab, i) for i in SPARE} == before and running(lab, A)
