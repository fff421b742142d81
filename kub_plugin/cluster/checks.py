"""Verdicts on hosts from their facts: what kub must refuse before it changes anything. No I/O here."""
import ipaddress
import re

from ..errors import RemoteError
from ..hosts import osdata, state
from . import versions
from .control_plane import endpoint as api_endpoint
from .kubeadm import recorded_value
from .settings import version_tuple

NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class HostRefused(RemoteError):
    """A host kub cannot or must not use; nothing was changed on it."""


def host(ip, facts, role, cluster_id, settings):
    """Refuses a host kub cannot or must not use. Returns its OS profile."""
    profile = osdata.os_profile(facts)
    if profile is None:
        raise HostRefused(f"{ip}: {facts.os_id or 'unknown OS'} {facts.os_version} is not supported: "
                          f"use a host with {osdata.supported_names()}")
    if facts.arch not in osdata.SUPPORTED_ARCH:
        raise HostRefused(f"{ip}: architecture {facts.arch} is not supported: use "
                          f"{' or '.join(osdata.SUPPORTED_ARCH)}")
    ours = bool(cluster_id) and facts.owner_id == cluster_id
    if facts.owner and not ours:
        raise HostRefused(f"{ip}: belongs to another kub cluster ({facts.owner_name}): use another host, or uninstall "
                          f"that deployment first (if it is this deployment's cluster, set the master's cluster_id "
                          f"to the cluster_id output it had)")
    if facts.joined and not ours:
        raise HostRefused(f"{ip}: already belongs to a Kubernetes cluster this deployment did not make "
                          f"(/etc/kubernetes holds its config): use another host, or run `kubeadm reset -f` "
                          f"there first if that cluster may go")
    if role == "minion" and facts.has_admin_conf:
        raise HostRefused(f"{ip}: is a control plane (has {state.ADMIN_CONF}): list it only as the master")
    if not (ours and facts.joined):
        busy = [port for port in state.REQUIRED_PORTS[role] if port in facts.listening]
        if busy:
            ports = ", ".join(map(str, busy))
            raise HostRefused(f"{ip}: port {ports} already in use, {role} needs it: stop what listens there "
                              f"(ss -ltnp 'sport = :{busy[0]}') or use another host")
    if role == "master":
        virtual_ip(ip, facts, api_endpoint(settings))
    if len(facts.node_name) > 253 or not NODE_NAME.fullmatch(facts.node_name):
        raise HostRefused(f"{ip}: hostname {facts.hostname!r} is not a valid Kubernetes node name (letters, "
                          f"digits, '-' and '.', starting and ending with a letter or digit): rename the host "
                          f"(hostnamectl set-hostname NAME)")
    minor = settings.kubernetes_version
    if facts.cgroup_v1 and versions.cgroup_v1_opt_in(minor) and not settings.allow_cgroup_v1:
        raise HostRefused(f"{ip}: the host runs cgroup v1 (/sys/fs/cgroup is {facts.cgroup_fs or 'not cgroup2fs'}), "
                          f"which the kubelet of Kubernetes {minor} refuses: boot the host with cgroup v2 "
                          f"(systemd.unified_cgroup_hierarchy=1), or set cluster.allow_cgroup_v1: true")
    os_containerd = profile["containerd_version"]
    if settings.containerd_source == "os" and not versions.containerd_supported(minor, os_containerd):
        fitting = versions.minors_for_containerd(os_containerd)
        raise HostRefused(f"{ip}: {facts.os_id} {facts.os_version} ships containerd {os_containerd}, "
                          f"and Kubernetes {minor} needs {versions.containerd_wanted(minor)}: set "
                          f"cluster.containerd_source: release (containerd's upstream release)"
                          + (f", or cluster.kubernetes_version: '{fitting[-1]}', which runs on containerd "
                             f"{os_containerd}" if fitting else
                             f" (no supported minor, {versions.supported()}, runs on containerd {os_containerd})"))
    if ours:
        running(ip, facts.recorded, settings)
    return profile


def virtual_ip(ip, facts, endpoint):
    """A master of a cluster whose endpoint is kub's virtual IP: the address kub logs in at is on one of its interfaces,
    the virtual IP in that interface's subnet, and the endpoint's port free (or held by kub's own haproxy)."""
    if endpoint is None or not endpoint.virtual_ip:
        return
    held = facts.interface_of(ip)
    if held is None:
        found = ", ".join(f"{dev} {net}" for dev, net in facts.addresses) or "none"
        raise HostRefused(f"{ip}: the address kub logs in at is on none of the host's interfaces ({found}), so "
                          f"keepalived cannot tell where the virtual IP {endpoint.virtual_ip} goes: log in at the "
                          f"host's own address, or use cluster.api_load_balancer external")
    dev, interface = held
    if ipaddress.ip_address(endpoint.virtual_ip) not in interface.network:
        raise HostRefused(f"{ip}: the virtual IP {endpoint.virtual_ip} is outside the subnet {interface.network} of "
                          f"{dev}, where the masters meet: give an unused address of {interface.network} as "
                          f"cluster.control_plane_endpoint")
    if endpoint.port in facts.listening and not facts.api_balancer:
        raise HostRefused(f"{ip}: port {endpoint.port} is already in use, and kub's haproxy listens there for the "
                          f"endpoint {endpoint.address}: stop what listens there (ss -ltnp 'sport = "
                          f":{endpoint.port}') or give the endpoint another port")


def running(ip, recorded, settings):
    """Settings a running cluster of this deployment cannot take are refused, naming the running value."""
    for key in ("pod_network_cidr", "service_cidr", "cri_socket", "control_plane_endpoint"):
        now, wanted = recorded.get(key), recorded_value(settings, key)
        if now and now != wanted:
            back = "'' (none)" if now == "none" else now
            raise HostRefused(f"{ip}: cluster.{key} {wanted} differs from the running cluster's {now}, which it "
                              f"cannot change: set it back to {back}, or uninstall the cluster and install it anew")
    now = recorded.get("kubernetes_version")
    if now and now != settings.kubernetes_version:
        if version_tuple(settings.kubernetes_version) < version_tuple(now):
            raise HostRefused(f"{ip}: cluster.kubernetes_version {settings.kubernetes_version} is lower than the "
                              f"running cluster's {now}, and Kubernetes cannot be downgraded: set it back to "
                              f"'{now}', or uninstall the cluster and install it anew")
        raise HostRefused(f"{ip}: cluster.kubernetes_version {settings.kubernetes_version} is higher than the "
                          f"running cluster's {now}: upgrades are not done by install; set it back to '{now}', or "
                          f"upgrade the cluster with kub_upgrade")


def unique_names(facts_by_ip, registered=None):
    """Every host's node name is its own: across the cluster's hosts, and against nodes already registered
    ({name: address}) under another address."""
    seen = {}
    for ip, facts in facts_by_ip.items():
        name = facts.node_name
        if name in seen:
            raise HostRefused(f"{ip}: hostname {facts.hostname!r} is also the hostname of {seen[name]}, and each "
                              f"node needs its own name: rename one of them (hostnamectl set-hostname NAME), "
                              f"e.g. after cloning a VM")
        seen[name] = ip
        address = (registered or {}).get(name)
        if address and address != ip:
            raise HostRefused(f"{ip}: hostname {facts.hostname!r} is already the name of the cluster's node at "
                              f"{address}: rename the host (hostnamectl set-hostname NAME)")


def all_held(master_ip, registered, held):
    """Every node the cluster has is at an address the deployment holds ({name: address} against addresses): a
    host dropped from the blueprint is never left a node nobody looks after (and that uninstall would not reset)."""
    stray = sorted((address, name) for name, address in registered.items() if address and address not in held)
    if stray:
        listed = ", ".join(f"{name} ({address})" for address, name in stray)
        ips = ", ".join(f'\"{address}\"' for address, _ in stray)
        raise HostRefused(f"{master_ip}: the cluster has node{'s' if len(stray) > 1 else ''} {listed} at "
                          f"address{'es' if len(stray) > 1 else ''} no node of this deployment lists: list "
                          f"{'them' if len(stray) > 1 else 'it'} again in the minions' ips, or remove "
                          f"{'them' if len(stray) > 1 else 'it'} with kub_remove_minions (-p '{{\"ips\": [{ips}]}}')")
