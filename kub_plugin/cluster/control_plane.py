"""A cluster's control plane: its masters and the endpoint every node and client reaches the API at.

One master: the endpoint is that master (or the name the user gives, pointing at it). Several masters (an odd
count, so etcd keeps quorum when one is lost) need an endpoint that outlives any of them: the user's load
balancer (`external`), or kub's haproxy and keepalived on the masters, holding a virtual IP (`keepalived`; haproxy
then listens on the endpoint's port, which must not be the API server's own 6443 on the same host). Checked from
the settings alone, before any host is touched.
"""
import ipaddress
import re
from dataclasses import dataclass

from ..errors import ConfigError
from ..hosts import state
from ..hosts.state import API_PORT

DEFAULT_PORT = {"keepalived": 8443, "external": API_PORT}
NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                  r"[A-Za-z0-9])?)*")
SETTING = "cluster.control_plane_endpoint"


@dataclass(frozen=True)
class Endpoint:
    """Where the API is reached: host (a name or an address) and port, and who balances it."""
    host: str
    port: int
    balancer: str

    @property
    def address(self):
        """host:port as kubeadm and kubeconfigs take it ([v6]:port)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def virtual_ip(self):
        """The address keepalived moves between the masters ('' when the user balances)."""
        return self.host if self.balancer == "keepalived" else ""


def endpoint(settings):
    """The cluster's Endpoint from its settings, or None (one master, reached at its own address)."""
    text, balancer = settings.control_plane_endpoint.strip(), settings.api_load_balancer
    if balancer not in ("", "external", "keepalived"):
        raise ConfigError(f"cluster.api_load_balancer {balancer!r} is not one of external, keepalived: external "
                          f"(your load balancer at {SETTING}) or keepalived (kub's haproxy and keepalived on the "
                          f"masters, holding {SETTING} as a virtual IP)")
    if not text:
        if balancer:
            what = ("the virtual IP the masters hold, and a port (e.g. 10.0.0.100:8443)" if balancer == "keepalived"
                    else "your load balancer's name or address, and a port (e.g. api.example.com:6443)")
            raise ConfigError(f"cluster.api_load_balancer {balancer} needs {SETTING}: set it to {what}")
        return None
    balancer = balancer or "external"
    host, port = _split(text)
    if port is None:
        port = DEFAULT_PORT[balancer]
    if balancer == "keepalived":
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            raise ConfigError(f"{SETTING} {text!r}: with api_load_balancer keepalived it is the virtual IP the "
                              f"masters hold: give an unused address of their subnet, e.g. 10.0.0.100:8443") from None
        if port == API_PORT:
            raise ConfigError(f"{SETTING} {text!r}: port {API_PORT} is the API server's own on every master, where "
                              f"kub's haproxy listens too: give another port, e.g. {host}:8443")
    elif not (_is_address(host) or NAME.fullmatch(host)):
        raise ConfigError(f"{SETTING} {text!r}: {host!r} is neither an address nor a DNS name: give your load "
                          f"balancer's name or address, e.g. api.example.com:6443")
    return Endpoint(host, port, balancer)


def _split(text):
    """(host, port or None) of `host`, `host:port`, `[v6]:port` or a bare IPv6 address."""
    bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::([0-9]+))?", text)
    if bracketed:
        host, port = bracketed.group(1), bracketed.group(2)
    elif text.count(":") > 1:
        host, port = text, None
    else:
        host, _, port = text.partition(":")
        port = port or None
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ConfigError(f"{SETTING} {text!r}: port {port!r} is not a TCP port: use 1-65535, e.g. {host}:8443")
    if not host:
        raise ConfigError(f"{SETTING} {text!r} has no host: give a name or address, e.g. 10.0.0.100:8443")
    return host, (int(port) if port is not None else None)


def _is_address(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def check_masters(node_id, master_ips, settings):
    """An odd count of masters, and an endpoint beyond any one of them when there are several; a virtual IP that
    is no host's address. Returns the Endpoint (or None)."""
    found = endpoint(settings)
    count = len(master_ips)
    if count % 2 == 0:
        raise ConfigError(f"master node {node_id} has {count} hosts ({', '.join(master_ips)}): etcd keeps quorum "
                          f"only with an odd count (1, 3 or 5 masters; 4 survive no more losses than 3): add or "
                          f"drop one")
    if count > 1 and found is None:
        raise ConfigError(f"master node {node_id} has {count} hosts but no {SETTING}: several masters need an "
                          f"endpoint that outlives each of them: a virtual IP with cluster.api_load_balancer "
                          f"keepalived (e.g. 10.0.0.100:8443), or your load balancer's address with external")
    if found and found.virtual_ip and found.virtual_ip in master_ips:
        raise ConfigError(f"{found.virtual_ip}: {SETTING} is a master's own address, but the virtual IP moves "
                          f"between the masters: give an unused address of their subnet")
    return found


def api_address(cluster_endpoint, master_ip):
    """host:port where nodes and clients reach the API: the endpoint, or the master itself."""
    if cluster_endpoint is None:
        return f"[{master_ip}]:{API_PORT}" if ":" in master_ip else f"{master_ip}:{API_PORT}"
    return cluster_endpoint.address


def master_packages(cluster_endpoint, count):
    """What each of `count` masters takes from the OS besides Kubernetes: etcd's client where there are several (kub
    removes a lost master's member with it), haproxy and keepalived where kub holds the endpoint's virtual IP."""
    several = state.ETCD_CLIENT_PACKAGES if count > 1 else ()
    balanced = state.API_BALANCER_PACKAGES if cluster_endpoint is not None and cluster_endpoint.virtual_ip else ()
    return several + balanced
