"""kub's load balancer of the API (cluster/api_balancer.py, scripts/api-balancer.sh) on three lab hosts with the
real haproxy and keepalived from Debian: the virtual IP on one master only, answering from the machine running cfy;
a plan first changes nothing; a re-run changes nothing; when the master holding the address loses its haproxy the
address moves to another master within seconds, and reset.sh takes it all away again. Hosts 1-3 are wiped at the
end."""
import logging
import socket
import time

import pytest

from kub_plugin.cluster import api_balancer, checks
from kub_plugin.cluster.control_plane import Endpoint
from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.hosts import facts as host_facts
from kub_plugin.hosts import scripts
from kub_plugin.hosts.plan import Plan
from kub_plugin.hosts.runner import apply
from kub_plugin.hosts.ssh import Host

pytestmark = pytest.mark.lab
HOSTS = (1, 2, 3)
CLUSTER_ID = "5b0e2c1a-7d4f-4e8a-9c3b-2f1e0d9c8b7a"
STATE = ("ls /etc/kub /etc/systemd/system/kub-api-* 2>/dev/null; ip -o addr show scope global | awk '{print $4}';"
         " systemctl is-active kub-api-haproxy kub-api-keepalived; true")


def open_host(lab, i, plan=None):
    settings = ssh_settings({"ssh": {"private_key_path": lab.ssh_private_key_path,
                                     "known_hosts_path": lab.known_hosts_path, "connect_timeout": 5}},
                            lab.host_ip(i))
    return Host(settings, logging.getLogger("kub-test"), plan)


@pytest.fixture(scope="module")
def masters(lab):
    for i in HOSTS:
        lab.exec(i, "apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -q -y install "
                    "--no-install-recommends haproxy keepalived >/dev/null", timeout=600)
    yield [lab.host_ip(i) for i in HOSTS], Endpoint(lab.host_ip(1).rsplit(".", 1)[0] + ".200", 8443, "keepalived")
    for i in HOSTS:
        lab.wipe(i)


def set_up(lab, masters, endpoint, plan=None):
    """{host number: the changes told} of setting the balancer up on every master."""
    told = {}
    for i in HOSTS:
        with open_host(lab, i, plan) as host:
            facts = host_facts.gather(host)
            checks.virtual_ip(host.ip, facts, endpoint)
            result = apply(host, "API load balancer", scripts.API_BALANCER.call(
                **api_balancer.variables(endpoint, masters, host.ip, facts, CLUSTER_ID)), timeout=120)
            told[i] = result
    return told


def holders(lab, address):
    return [i for i in HOSTS if f" {address}/" in lab.exec(i, "ip -o addr show").stdout]


def answers(address, port):
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_a_plan_changes_nothing(lab, masters):
    names, endpoint = masters
    before = {i: lab.exec(i, STATE).stdout for i in HOSTS}
    plan = Plan([lab.host_ip(i) for i in HOSTS])
    set_up(lab, names, endpoint, plan)
    assert {i: lab.exec(i, STATE).stdout for i in HOSTS} == before
    for i in HOSTS:
        changes = plan.changes(lab.host_ip(i))
        assert "enabled kub-api-haproxy" in changes and "started kub-api-keepalived" in changes, changes


def test_the_virtual_ip_is_on_one_master_and_answers(lab, masters):
    names, endpoint = masters
    set_up(lab, names, endpoint)
    assert wait_for(lambda: holders(lab, endpoint.virtual_ip) == [1], 15), holders(lab, endpoint.virtual_ip)
    assert wait_for(lambda: answers(endpoint.virtual_ip, endpoint.port), 10)
    config = lab.exec(2, "cat /etc/kub/api-keepalived.conf").stdout
    assert f"unicast_src_ip {lab.host_ip(2)}" in config and "priority 140" in config
    assert lab.exec(1, "haproxy -c -f /etc/kub/api-haproxy.cfg").returncode == 0


def test_a_rerun_changes_nothing(lab, masters):
    names, endpoint = masters
    before = {i: lab.exec(i, STATE + "; sha256sum /etc/kub/*").stdout for i in HOSTS}
    plan = Plan([lab.host_ip(i) for i in HOSTS])
    set_up(lab, names, endpoint, plan)
    assert all(not plan.changes(lab.host_ip(i)) for i in HOSTS), [plan.changes(lab.host_ip(i)) for i in HOSTS]
    set_up(lab, names, endpoint)
    assert {i: lab.exec(i, STATE + "; sha256sum /etc/kub/*").stdout for i in HOSTS} == before


def test_the_address_moves_when_its_master_loses_haproxy(lab, masters):
    _, endpoint = masters
    assert holders(lab, endpoint.virtual_ip) == [1]
    lab.exec(1, "systemctl stop kub-api-haproxy")
    started = time.monotonic()
    assert wait_for(lambda: holders(lab, endpoint.virtual_ip) in ([2], [3]), 10), holders(lab, endpoint.virtual_ip)
    assert wait_for(lambda: answers(endpoint.virtual_ip, endpoint.port), 10)
    print(f"the virtual IP moved in {time.monotonic() - started:.1f} s")
    lab.exec(1, "systemctl start kub-api-haproxy")
    time.sleep(3)
    assert holders(lab, endpoint.virtual_ip) in ([2], [3])   # nopreempt: no second move


def test_reset_takes_the_balancer_away(lab, masters):
    _, endpoint = masters
    for i in HOSTS:
        with open_host(lab, i) as host:
            apply(host, "reset", scripts.RESET.call(cri_socket="unix:///var/run/containerd/containerd.sock"),
                  timeout=300)
        state = lab.exec(i, STATE).stdout
        assert "/etc/kub" not in state and "kub-api" not in state and endpoint.virtual_ip not in state, state
    assert not answers(endpoint.virtual_ip, endpoint.port)
