"""A highly available control plane with the real cfy CLI on lab hosts: hosts 1-3 masters (stacked etcd, the real
etcd), host 4 a minion, the API at a virtual IP that kub's haproxy and keepalived keep on the masters. An even count
of masters is refused before any change; all nodes Ready and three started etcd members; master 1 crashed: the API
answers through the virtual IP within seconds, kub's workflows and kubectl work and etcd keeps quorum; booted, it is a
healthy member again; a wiped master is healed (its old member removed, joined anew); uninstall leaves no etcd data,
virtual IP or load balancer on any host. A backup restored onto the three members brings the cluster back to it.
Two masters removed leave one (one alone would leave an even count, refused). Hosts 1-4 are wiped at the end."""
import json
import time

import pytest
from e2e_support import cluster_inputs, host_state

from kub_lab.cfy import LocalCfy

pytestmark = pytest.mark.lab
MASTERS, MINION = (1, 2, 3), 4
HOSTS = (*MASTERS, MINION)
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf "
OPTIONS = ("--task-retries", "0")
ETCDCTL = ("ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
           "--cert /etc/kubernetes/pki/apiserver-etcd-client.crt --key /etc/kubernetes/pki/apiserver-etcd-client.key ")
# what kub adds for the load balancer and etcd, and what an uninstall must take away
LEFT = ("ls -d /etc/kub /etc/systemd/system/kub-api-* /var/lib/etcd/member /etc/kubernetes/manifests/etcd.yaml "
        "2>/dev/null; ip -o addr show scope global | awk '{print $4}'; true")


def virtual_ip(lab):
    return lab.host_ip(1).rsplit(".", 1)[0] + ".200"


def ha_inputs(lab, masters=MASTERS, minions=(MINION,)):
    return cluster_inputs(lab, master=masters[0], minions=minions,
                          master_ips=[lab.host_ip(i) for i in masters[1:]],
                          control_plane_endpoint=f"{virtual_ip(lab)}:8443", api_load_balancer="keepalived")


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    cfy = LocalCfy(tmp_path_factory.mktemp("ha"), blueprint_id="ha")
    cfy.stage()
    cfy.init(ha_inputs(lab))
    try:
        cfy.install()
        yield cfy
    finally:   # (a wipe boots a crashed host too)
        for i in HOSTS:
            lab.wipe(i)


def members(lab, i):
    """{name: status} of etcd's members as master i sees them."""
    out = lab.exec(i, ETCDCTL + "member list").stdout
    return {fields[2]: fields[1] for fields in (line.split(", ") for line in out.splitlines() if line)}


def healthy_members(lab, i):
    """How many of etcd's members answer as healthy, asked on master i (etcdctl tells it on stderr)."""
    health = lab.exec(i, ETCDCTL + "endpoint health --cluster", check=False)
    return (health.stdout + health.stderr).count(" is healthy")


def ready(lab, i):
    items = json.loads(lab.exec(i, KUBECTL + "get nodes -o json").stdout)["items"]
    return {n["metadata"]["name"]: [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
            for n in items}


def wait_for(condition, seconds, interval=0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except Exception:   # noqa: BLE001 - a host or the API still on its way back
            pass
        time.sleep(interval)
    return condition()


def test_an_even_count_of_masters_is_refused_before_any_change(lab, tmp_path):
    before = {i: host_state(lab, i) for i in (1, 2)}
    cfy = LocalCfy(tmp_path, blueprint_id="ha-even")
    cfy.stage()
    cfy.init(ha_inputs(lab, masters=(1, 2), minions=()))
    result = cfy.install(check=False)
    assert result.returncode != 0
    assert (f"master node master has 2 hosts ({lab.host_ip(1)}, {lab.host_ip(2)}): etcd keeps quorum only with an "
            f"odd count" in result.stdout), result.stdout[-3000:]
    assert {i: host_state(lab, i) for i in (1, 2)} == before


@pytest.mark.parametrize("endpoint,balancer,message", [
    ("{spare}:8443", "keepalived", "{ip1}: the virtual IP {spare} is in use already (a connection to {spare}:8443 "
                                   "refused): give an unused address of the masters' subnet"),
    ("{free}:6443", "external", "{ip1}: the endpoint {free}:6443 does not answer from this master (unreachable): "
                                "set your load balancer up"),
])
def test_an_endpoint_taken_or_not_answering_is_refused_before_any_change(lab, tmp_path, endpoint, balancer, message):
    names = {"spare": lab.host_ip(5), "free": virtual_ip(lab).rsplit(".", 1)[0] + ".201", "ip1": lab.host_ip(1)}
    before = host_state(lab, 1)
    cfy = LocalCfy(tmp_path, blueprint_id="ha-endpoint")
    cfy.stage()
    cfy.init(cluster_inputs(lab, master=1, minions=(), control_plane_endpoint=endpoint.format(**names),
                            api_load_balancer=balancer))
    result = cfy.install(check=False)
    assert result.returncode != 0 and message.format(**names) in result.stdout, result.stdout[-3000:]
    assert host_state(lab, 1) == before


def test_every_node_is_ready_and_etcd_has_three_members(lab, cluster):
    names = [lab.exec(i, "hostname").stdout.strip() for i in HOSTS]
    assert all(ready(lab, 2).get(name) == "True" for name in names), ready(lab, 2)
    assert members(lab, 1) == {name: "started" for name in names[:3]}
    holders = [i for i in MASTERS if f" {virtual_ip(lab)}/" in lab.exec(i, "ip -o addr show").stdout]
    assert len(holders) == 1, holders
    server = f"server: https://{virtual_ip(lab)}:8443"
    assert server in lab.exec(MINION, "cat /etc/kubernetes/kubelet.conf").stdout
    assert server in open(cluster.outputs()["kubeconfig_path"]).read()
    # the uploaded control-plane certificates are gone once the masters joined
    assert lab.exec(1, KUBECTL + "-n kube-system get secret kubeadm-certs", check=False).returncode != 0


def test_with_master_1_crashed_the_api_answers_and_etcd_keeps_quorum(lab, cluster):
    lab.crash(1)
    started = time.monotonic()
    assert wait_for(lambda: lab.exec(2, KUBECTL + "get nodes --request-timeout=2s", check=False).returncode == 0,
                    10, 0.2)
    print(f"the API answered through the virtual IP {time.monotonic() - started:.1f} s after the crash")
    lab.exec(2, KUBECTL + "create configmap written-without-master-1")
    out = cluster.execute("kub_get", {"kind": "configmap", "name": "written-without-master-1"},
                          options=OPTIONS).stdout
    assert "written-without-master-1" in out, out[-3000:]
    assert healthy_members(lab, 2) == 2


def test_master_1_booted_is_a_healthy_member_again(lab, cluster):
    lab.boot(1)
    name = lab.exec(1, "hostname").stdout.strip()
    assert wait_for(lambda: healthy_members(lab, 2) == 3, 120,
                    2)
    assert wait_for(lambda: ready(lab, 2)[name] == "True", 120, 2)
    assert "written-without-master-1" in lab.exec(1, KUBECTL + "get configmaps").stdout


def test_a_heal_that_cannot_finish_leaves_the_masters_as_they_are(lab, cluster):
    # Cloudify reinstalls a node whose heal operation failed: for the master that would reset every master
    lab.crash(3)
    master = [n["id"] for n in cluster.node_instances() if n["node_id"] == "master"][0]
    result = cluster.execute("heal", {"node_instance_id": master}, check=False, options=OPTIONS)
    assert result.returncode != 0
    assert "heal does not reinstall the master: a reset would take the cluster's control plane" in result.stdout, \
        result.stdout[-3000:]
    assert wait_for(lambda: healthy_members(lab, 1) == 2, 30)
    assert lab.exec(1, "test -s /etc/kubernetes/admin.conf && systemctl is-active kub-api-keepalived").returncode == 0


def test_a_wiped_master_is_healed_as_a_new_member(lab, cluster):
    lab.wipe(3)
    name = lab.exec(3, "hostname").stdout.strip()
    master = [n["id"] for n in cluster.node_instances() if n["node_id"] == "master"][0]
    out = cluster.execute("heal", {"node_instance_id": master}, options=OPTIONS).stdout
    assert f"removed etcd member {name}" in out, out[-3000:]
    assert members(lab, 1) == {lab.exec(i, "hostname").stdout.strip(): "started" for i in MASTERS}
    assert ready(lab, 1)[name] == "True"


def test_a_backup_restored_onto_three_members(lab, cluster, tmp_path_factory):
    path = tmp_path_factory.mktemp("ha-backups") / "kub" / "ha.tar.gz"
    cluster.execute("kub_backup", {"path": str(path)}, options=OPTIONS)
    lab.exec(2, KUBECTL + "create configmap made-after-the-backup")
    out = cluster.execute("kub_restore", {"path": str(path)}, options=OPTIONS).stdout
    assert out.count("restored etcd's data from the snapshot as member") == 3, out[-3000:]
    assert members(lab, 1) == {lab.exec(i, "hostname").stdout.strip(): "started" for i in MASTERS}
    assert wait_for(lambda: healthy_members(lab, 1) == 3, 60)
    assert lab.exec(3, KUBECTL + "get configmap made-after-the-backup", check=False).returncode != 0
    assert "written-without-master-1" in lab.exec(3, KUBECTL + "get configmaps").stdout
    assert all(status == "True" for status in ready(lab, 1).values()), ready(lab, 1)


def test_removing_masters_keeps_an_odd_count_with_quorum(lab, cluster):
    refused = cluster.execute("kub_remove_masters", {"ips": [lab.host_ip(3)]}, check=False, options=OPTIONS)
    assert refused.returncode != 0
    assert (f"removing {lab.host_ip(3)} would leave 2 masters: etcd keeps quorum only with an odd count"
            in refused.stdout), refused.stdout[-2000:]
    assert len(members(lab, 1)) == 3
    leaving = [lab.host_ip(i) for i in (2, 3)]
    out = cluster.execute("kub_remove_masters", {"ips": leaving}, options=OPTIONS).stdout
    assert f"removed from the control plane: {', '.join(leaving)}" in out, out[-3000:]
    assert members(lab, 1) == {lab.exec(1, "hostname").stdout.strip(): "started"}
    names = set(ready(lab, 1))
    assert names == {lab.exec(i, "hostname").stdout.strip() for i in (1, MINION)}, names
    assert all(status == "True" for status in ready(lab, 1).values())
    for i in (2, 3):
        assert lab.exec(i, LEFT).stdout.split() == [lab.host_ip(i) + "/24"], i
    config = lab.exec(1, "cat /etc/kub/api-haproxy.cfg").stdout
    assert f"server {lab.host_ip(1)} " in config and lab.host_ip(2) not in config
    # the deployment works on with the master that stays: a kub_* workflow, a heal of the master node
    assert lab.exec(1, "hostname").stdout.strip() in cluster.execute("kub_get", {"kind": "nodes"},
                                                                     options=OPTIONS).stdout
    master = [n for n in cluster.node_instances() if n["node_id"] == "master"][0]
    assert master["runtime_properties"]["hosts"] == [lab.host_ip(1)]


def test_uninstall_leaves_no_etcd_virtual_ip_or_load_balancer(lab, cluster):
    cluster.uninstall()
    for i in HOSTS:
        left = lab.exec(i, LEFT).stdout
        assert left.split() == [lab.host_ip(i) + "/24"], (i, left)
