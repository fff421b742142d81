"""The control plane's endpoint and the masters' count: checked from the settings alone, each refusal one line
naming the setting and the fix."""
import pytest
import yaml

from kub_plugin.cluster import api_balancer, checks, control_plane, kubeadm
from kub_plugin.cluster.properties import cluster_settings
from kub_plugin.cluster.settings import ClusterSettings
from kub_plugin.errors import ConfigError
from kub_plugin.hosts import facts as host_facts

THREE = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]


def settings(endpoint="", balancer=""):
    return ClusterSettings(control_plane_endpoint=endpoint, api_load_balancer=balancer)


@pytest.mark.parametrize("endpoint,balancer,address,virtual_ip", [
    ("10.0.0.100", "keepalived", "10.0.0.100:8443", "10.0.0.100"),
    ("10.0.0.100:9443", "keepalived", "10.0.0.100:9443", "10.0.0.100"),
    ("[fd00::64]:8443", "keepalived", "[fd00::64]:8443", "fd00::64"),
    ("fd00::64", "keepalived", "[fd00::64]:8443", "fd00::64"),
    ("api.example.com", "", "api.example.com:6443", ""),
    ("api.example.com:443", "external", "api.example.com:443", ""),
    ("10.0.0.50:6443", "external", "10.0.0.50:6443", ""),
])
def test_endpoints(endpoint, balancer, address, virtual_ip):
    found = control_plane.endpoint(settings(endpoint, balancer))
    assert (found.address, found.virtual_ip) == (address, virtual_ip)


def test_no_endpoint_is_the_master_itself():
    assert control_plane.endpoint(settings()) is None
    assert control_plane.api_address(None, "10.0.0.11") == "10.0.0.11:6443"
    assert control_plane.api_address(None, "fd00::11") == "[fd00::11]:6443"


@pytest.mark.parametrize("endpoint,balancer,message", [
    ("", "keepalived", "cluster.api_load_balancer keepalived needs cluster.control_plane_endpoint: set it to the "
                       "virtual IP the masters hold"),
    ("", "external", "cluster.api_load_balancer external needs cluster.control_plane_endpoint: set it to your load "
                     "balancer's name or address"),
    ("10.0.0.100", "haproxy", "cluster.api_load_balancer 'haproxy' is not one of external, keepalived"),
    ("api.example.com:8443", "keepalived", "with api_load_balancer keepalived it is the virtual IP the masters "
                                           "hold: give an unused address of their subnet"),
    ("10.0.0.100:6443", "keepalived", "port 6443 is the API server's own on every master, where kub's haproxy "
                                      "listens too: give another port, e.g. 10.0.0.100:8443"),
    ("10.0.0.100:0", "keepalived", "port '0' is not a TCP port: use 1-65535"),
    ("10.0.0.100:http", "", "port 'http' is not a TCP port"),
    (":8443", "", "has no host: give a name or address"),
    ("api_server.example.com", "", "'api_server.example.com' is neither an address nor a DNS name"),
])
def test_bad_endpoints(endpoint, balancer, message):
    with pytest.raises(ConfigError) as err:
        cluster_settings({"cluster": {"control_plane_endpoint": endpoint, "api_load_balancer": balancer}})
    assert message in str(err.value)


def test_an_odd_count_of_masters():
    assert control_plane.check_masters("master", THREE, settings("10.0.0.100", "keepalived")).virtual_ip
    assert control_plane.check_masters("master", THREE[:1], settings()) is None
    with pytest.raises(ConfigError) as err:
        control_plane.check_masters("master", THREE[:2], settings("10.0.0.100", "keepalived"))
    assert str(err.value).startswith("master node master has 2 hosts (10.0.0.11, 10.0.0.12): etcd keeps quorum "
                                     "only with an odd count (1, 3 or 5 masters")


def test_several_masters_need_an_endpoint_beyond_each():
    with pytest.raises(ConfigError, match="master node master has 3 hosts but no cluster.control_plane_endpoint: "
                                          "several masters need an endpoint that outlives each of them"):
        control_plane.check_masters("master", THREE, settings())
    with pytest.raises(ConfigError, match="10.0.0.12: cluster.control_plane_endpoint is a master's own address"):
        control_plane.check_masters("master", THREE, settings("10.0.0.12:8443", "keepalived"))


# -- the masters' hosts: the virtual IP's subnet, the endpoint's port, the joins ------------------------------------

def master_facts(addresses="eth0=10.0.0.11/24", listening=(), balancer=False):
    return host_facts.parse(f"hostname=m1\naddresses={addresses}\nlistening={' '.join(map(str, listening))}\n"
                            + ("api_balancer=yes\n" if balancer else ""))


def test_the_virtual_ip_lives_in_the_subnet_of_the_masters_own_address():
    endpoint = control_plane.endpoint(settings("10.0.0.100:8443", "keepalived"))
    checks.virtual_ip("10.0.0.11", master_facts(), endpoint)
    checks.virtual_ip("10.0.0.11", master_facts(listening=(8443,), balancer=True), endpoint)   # kub's haproxy
    checks.virtual_ip("10.0.0.11", master_facts(), control_plane.endpoint(settings("api.example.com", "external")))
    with pytest.raises(checks.HostRefused, match=r"10.0.1.11: the virtual IP 10.0.0.100 is outside the subnet "
                                                 r"10.0.1.0/24 of eth0, where the masters meet: give an unused "
                                                 r"address of 10.0.1.0/24"):
        checks.virtual_ip("10.0.1.11", master_facts("eth0=10.0.1.11/24"), endpoint)
    with pytest.raises(checks.HostRefused, match=r"10.0.0.11: the address kub logs in at is on none of the host's "
                                                 r"interfaces \(eth0 192.168.1.5/24\)"):
        checks.virtual_ip("10.0.0.11", master_facts("eth0=192.168.1.5/24"), endpoint)
    with pytest.raises(checks.HostRefused, match=r"10.0.0.11: port 8443 is already in use, and kub's haproxy "
                                                 r"listens there for the endpoint 10.0.0.100:8443"):
        checks.virtual_ip("10.0.0.11", master_facts(listening=(8443,)), endpoint)


def test_what_masters_take_from_the_os():
    keepalived = control_plane.endpoint(settings("10.0.0.100", "keepalived"))
    external = control_plane.endpoint(settings("api.example.com", "external"))
    assert control_plane.master_packages(None, 1) == ()
    assert control_plane.master_packages(keepalived, 1) == ("haproxy", "keepalived")
    assert control_plane.master_packages(keepalived, 3) == ("etcd-client", "haproxy", "keepalived")
    assert control_plane.master_packages(external, 3) == ("etcd-client",)


def test_the_balancer_is_rendered_from_data():
    endpoint = control_plane.endpoint(settings("10.0.0.100:8443", "keepalived"))
    found = api_balancer.variables(endpoint, THREE, "10.0.0.12", master_facts("eth0=10.0.0.12/24"),
                                   "5b0e2c1a-7d4f-4e8a-9c3b-2f1e0d9c8b7a")
    assert "    bind :::8443 v4v6\n" in found["haproxy_config"]
    assert [line.split()[1:] for line in found["haproxy_config"].splitlines() if line.startswith("    server ")] \
        == [[ip, f"{ip}:6443"] for ip in THREE]
    keepalived = found["keepalived_config"]
    assert "priority 140" in keepalived and "unicast_src_ip 10.0.0.12" in keepalived
    assert "        10.0.0.11\n        10.0.0.13\n" in keepalived and "10.0.0.100/24 dev eth0" in keepalived
    assert f"virtual_router_id {api_balancer.router_id('5b0e2c1a-7d4f-4e8a-9c3b-2f1e0d9c8b7a')}" in keepalived
    assert "</dev/tcp/127.0.0.1/8443" in found["check_script"]


def test_a_master_joins_the_control_plane_with_the_key_as_a_secret():
    config = yaml.safe_load(kubeadm.join_configuration(ClusterSettings(), "10.0.0.100:8443", "abcdef.0123456789abcdef",
                                                       "sha256:aa", "m2", False, ("10.0.0.12", "k" * 64)))
    assert config["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.0.0.12", "bindPort": 6443},
                                      "certificateKey": "k" * 64}
    assert config["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "10.0.0.100:8443"
    assert len(kubeadm.new_certificate_key()) == 64 and kubeadm.new_certificate_key() != kubeadm.new_certificate_key()


def test_a_running_cluster_keeps_its_endpoint():
    one = settings()
    recorded = dict(line.split("=", 1) for line in kubeadm.record(one).splitlines())
    assert recorded["control_plane_endpoint"] == "none"
    checks.running("10.0.0.11", recorded, one)
    with pytest.raises(checks.HostRefused, match=r"10.0.0.11: cluster.control_plane_endpoint 10.0.0.100:8443 differs "
                                                 r"from the running cluster's none, which it cannot change: set it "
                                                 r"back to '' \(none\)"):
        checks.running("10.0.0.11", recorded, settings("10.0.0.100", "keepalived"))
    ha = settings("10.0.0.100", "keepalived")
    checks.running("10.0.0.11", {"control_plane_endpoint": "10.0.0.100:8443"},
                   settings("10.0.0.100:8443", "keepalived"))
    assert kubeadm.recorded_value(ha, "control_plane_endpoint") == "10.0.0.100:8443"
