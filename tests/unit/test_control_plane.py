"""The control plane's endpoint and the masters' count: checked from the settings alone, each refusal one line
naming the setting and the fix."""
import pytest

from kub_plugin.cluster import control_plane
from kub_plugin.cluster.properties import cluster_settings
from kub_plugin.cluster.settings import ClusterSettings
from kub_plugin.errors import ConfigError

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
