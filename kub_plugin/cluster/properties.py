"""Settings read from node properties, checked before any host is touched.

Every problem is a one-line ConfigError that names the setting (and host) and says how to fix it.
"""
import ipaddress
import os
import re
import string
from dataclasses import fields, replace

from ..errors import ConfigError
from . import control_plane, registries, versions
from .settings import (
    CONTAINERD_SOURCES,
    DEFAULT_CRI_SOCKET,
    URL_SETTINGS,
    BastionSettings,
    ClusterSettings,
    DrainSettings,
    NodeSettings,
    SshSettings,
    field_names,
)

# kube-controller-manager gives each node a slice of the pod network this large (its default mask sizes)
NODE_POD_PREFIX = {4: 24, 6: 64}
# kube-apiserver refuses a larger service network (at most 2^20 addresses)
SERVICE_MIN_PREFIX = {4: 12, 6: 108}
# a pinned host key, as ssh-keygen -lf prints it
FINGERPRINT = r"SHA256:[A-Za-z0-9+/]{43}"
# a DNS name (RFC 1123 labels), for a bastion given by name
DNS_NAME = r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"


def _known(settings, cls, what, where=""):
    unknown = sorted(set(settings) - set(field_names(cls)))
    if unknown:
        raise ConfigError(f"{where}unknown {what} setting(s) {', '.join(unknown)}: "
                          f"use {', '.join(n for n in field_names(cls) if n != 'ip')}")


def _check_types(settings, cls, prefix, where=""):
    """Each setting has the type of its default (YAML gives numbers and booleans where strings are meant)."""
    for f in fields(cls):
        if f.name not in settings:
            continue
        value, kind = settings[f.name], type(f.default)
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}{prefix}{f.name} {value!r} is not a whole number: give seconds or a port "
                              f"as a number")
        if kind is bool and not isinstance(value, bool):
            raise ConfigError(f"{where}{prefix}{f.name} {value!r} is not true or false")
        if kind is str and not isinstance(value, str):
            hint = (f" (quote it in YAML, e.g. '{versions.DEFAULT_MINOR}': unquoted it is a number)"
                    if isinstance(value, float) else "")
            raise ConfigError(f"{where}{prefix}{f.name} {value!r} is not a string{hint}")


def host_ip(value, setting="ip"):
    """The canonical spelling of a host address (one host, one spelling: 2001:DB8::1 is 2001:db8::1)."""
    if not isinstance(value, str):
        raise ConfigError(f"{setting} {value!r} is not a string: give the host's IPv4 or IPv6 address in quotes")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ConfigError(f"{value!r}: not an IP address: set {setting} to the host's IPv4 or IPv6 address") from None


def ssh_settings(props, ip):
    """SshSettings for one host from a node's `ssh` property and one of its addresses."""
    ip = host_ip(ip)
    ssh = dict(props.get("ssh") or {})
    _known(ssh, SshSettings, "ssh", f"{ip}: ")
    _check_types(ssh, SshSettings, "ssh.", f"{ip}: ")
    ssh["bastion"] = bastion_settings(ssh.get("bastion"), ip)
    settings = SshSettings(ip=ip, **{k: v for k, v in ssh.items() if k != "ip"})
    if not settings.user:
        raise ConfigError(f"{ip}: ssh.user is empty: set the login user (e.g. root or a sudoer)")
    if not (settings.private_key_path or settings.private_key or settings.password
            or os.environ.get("SSH_AUTH_SOCK")):
        raise ConfigError(f"{ip}: no SSH credential: set ssh.private_key_path, ssh.private_key or ssh.password, "
                          f"or run cfy with an ssh-agent that holds the key (SSH_AUTH_SOCK)")
    if settings.private_key_passphrase and not (settings.private_key_path or settings.private_key):
        raise ConfigError(f"{ip}: ssh.private_key_passphrase is set but no key is given: set "
                          f"ssh.private_key_path or ssh.private_key (the key it opens)")
    if not 1 <= settings.port <= 65535:
        raise ConfigError(f"{ip}: ssh.port {settings.port} is not a TCP port: use 1-65535 (sshd's Port)")
    if settings.connect_timeout <= 0:
        raise ConfigError(f"{ip}: ssh.connect_timeout {settings.connect_timeout} must be above 0 seconds "
                          f"(the default is 10)")
    if settings.host_key_fingerprint and not re.fullmatch(FINGERPRINT, settings.host_key_fingerprint):
        raise ConfigError(f"{ip}: ssh.host_key_fingerprint must look like SHA256:<43 base64 characters> "
                          f"(as printed by ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)")
    return settings


def bastion_settings(value, ip):
    """ssh.bastion, the jump host `ip` is reached through; None when it names no address, or names `ip` itself (that
    host is the bastion of the others: it is reached directly)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{ip}: ssh.bastion {value!r} is not a mapping: give the jump host's address (and its port, "
                          f"user and key), or leave ssh.bastion out")
    _known(value, BastionSettings, "ssh.bastion", f"{ip}: ")
    _check_types(value, BastionSettings, "ssh.bastion.", f"{ip}: ")
    settings = BastionSettings(**value)
    if not settings.address.strip():
        given = [f.name for f in fields(BastionSettings) if getattr(settings, f.name) != f.default]
        if given:
            raise ConfigError(f"{ip}: ssh.bastion.{given[0]} is set but ssh.bastion.address is empty: set the "
                              f"bastion's address, or leave ssh.bastion out to reach the hosts directly")
        return None
    settings = replace(settings, address=_bastion_address(settings.address, ip))
    if settings.address == ip:
        return None
    where = f"{ip}: ssh.bastion"
    if not settings.user:
        raise ConfigError(f"{where}.user is empty: set the login user on the bastion {settings.address}")
    if not 1 <= settings.port <= 65535:
        raise ConfigError(f"{where}.port {settings.port} is not a TCP port: use 1-65535 (the bastion's sshd Port, "
                          f"22 by default)")
    if settings.private_key_passphrase and not (settings.private_key_path or settings.private_key):
        raise ConfigError(f"{where}.private_key_passphrase is set but no key is given: set "
                          f"ssh.bastion.private_key_path or ssh.bastion.private_key (the key it opens)")
    if not (settings.private_key_path or settings.private_key or os.environ.get("SSH_AUTH_SOCK")):
        raise ConfigError(f"{ip}: no SSH credential for the bastion {settings.address}: set "
                          f"ssh.bastion.private_key_path or ssh.bastion.private_key, or run cfy with an ssh-agent "
                          f"that holds its key (SSH_AUTH_SOCK)")
    if settings.host_key_fingerprint and not re.fullmatch(FINGERPRINT, settings.host_key_fingerprint):
        raise ConfigError(f"{where}.host_key_fingerprint must look like SHA256:<43 base64 characters> (as printed "
                          f"by ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the bastion)")
    return settings


def _bastion_address(value, ip):
    """The bastion's IP address (in its one spelling) or DNS name."""
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    # a name's last label is never all digits: 10.0.0.300 is a mistyped address, not a name
    if not re.fullmatch(DNS_NAME, value, re.ASCII) or value.rsplit(".", 1)[-1].isdigit():
        raise ConfigError(f"{ip}: ssh.bastion.address {value!r} is neither an IP address nor a DNS name: give the "
                          f"jump host's address as this machine reaches it")
    return value.lower()


def host_addresses(props, node_id):
    """A node's addresses: `ip` and/or `ips` (a master has `ip`, the first; a minion may have none)."""
    ips = props.get("ips") or []
    if not isinstance(ips, list):
        raise ConfigError(f"node {node_id}: ips {ips!r} is not a list: give a YAML list of addresses")
    return ([props["ip"]] if props.get("ip") else []) + ips


def node_settings(props, node_id):
    values = {name: props[name] for name in field_names(NodeSettings) if name in props}
    _check_types(values, NodeSettings, "", f"node {node_id}: ")
    settings = NodeSettings(**values)
    for name in field_names(NodeSettings):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"node {node_id}: {name} {getattr(settings, name)} must be above 0 seconds "
                              f"(the default is {getattr(NodeSettings, name)})")
    return settings


def drain_settings(props, node_id):
    values = {name: props[name] for name in field_names(DrainSettings) if name in props}
    _check_types(values, DrainSettings, "", f"node {node_id}: ")
    settings = DrainSettings(**values)
    if settings.drain_timeout <= 0:
        raise ConfigError(f"node {node_id}: drain_timeout {settings.drain_timeout} must be above 0 seconds "
                          f"(the default is {DrainSettings.drain_timeout})")
    return settings


def cluster_settings(props):
    cluster = dict(props.get("cluster") or {})
    _known(cluster, ClusterSettings, "cluster")
    _check_types(cluster, ClusterSettings, "cluster.")
    settings = ClusterSettings(**cluster)
    validate_cluster(settings)
    return settings


def validate_cluster(settings):
    if not re.fullmatch(r"1\.[0-9]{1,3}", settings.kubernetes_version, re.ASCII):
        raise ConfigError(f"cluster.kubernetes_version {settings.kubernetes_version!r} is not a minor version: "
                          f"use the form 1.NN, e.g. '{versions.DEFAULT_MINOR}' (quote it in YAML)")
    if settings.minor < (1, 10):
        raise ConfigError(f"cluster.kubernetes_version {settings.kubernetes_version!r} reads like "
                          f"{settings.kubernetes_version}0 written without quotes (YAML reads an unquoted "
                          f"{settings.kubernetes_version}0 as the number {settings.kubernetes_version}): quote it; "
                          f"kub supports {versions.supported()}")
    if settings.kubernetes_version not in versions.MINORS:
        raise ConfigError(f"cluster.kubernetes_version {settings.kubernetes_version!r} is not supported: use one of "
                          f"{versions.supported()} (the minors Kubernetes still supports)")
    _containerd(settings)
    registries.check(settings.registry_mirrors)
    control_plane.endpoint(settings)
    pods = _network(settings, "pod_network_cidr")
    services = _network(settings, "service_cidr")
    if pods.version == services.version and pods.overlaps(services):
        raise ConfigError(f"cluster.pod_network_cidr {pods} and cluster.service_cidr {services} overlap: "
                          f"choose networks that do not (defaults: 10.244.0.0/16 and 10.96.0.0/12)")
    if pods.prefixlen >= NODE_POD_PREFIX[pods.version]:
        raise ConfigError(f"cluster.pod_network_cidr {pods} is too small: each node takes a "
                          f"/{NODE_POD_PREFIX[pods.version]} of it, so give a larger network such as 10.244.0.0/16")
    if services.prefixlen < SERVICE_MIN_PREFIX[services.version] or services.num_addresses < 4:
        raise ConfigError(f"cluster.service_cidr {services} cannot be used: give a network between "
                          f"/{SERVICE_MIN_PREFIX[services.version]} and a few addresses, e.g. 10.96.0.0/12")
    for name in ("package_repository_url", "package_repository_key_url"):
        url_template(name, getattr(settings, name), ("version",))
    for name in ("containerd_url", "runc_url", "containerd_unit_url"):
        url_template(name, getattr(settings, name), ("version", "runc_version", "arch"))
    url_template("etcd_url", settings.etcd_url, ("version", "arch"))
    for name in URL_SETTINGS:
        if getattr(settings, name).lower().startswith("http://") and not settings.allow_plain_http:
            raise ConfigError(f"cluster.{name} {getattr(settings, name)!r} is plain http, which anyone on the way "
                              f"can change: use https, or set cluster.allow_plain_http: true for a mirror on a "
                              f"network you trust")
    if not re.fullmatch(r"unix:///[A-Za-z0-9._/-]+", settings.cri_socket):
        raise ConfigError(f"cluster.cri_socket {settings.cri_socket!r} is not a unix socket URL: use the form "
                          f"unix:///path (containerd's is {DEFAULT_CRI_SOCKET})")


def _network(settings, name):
    value = getattr(settings, name)
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ConfigError(f"cluster.{name} {value!r} is not a valid CIDR ({err}): use a network like "
                          f"10.244.0.0/16") from None


def url_template(name, value, allowed, prefix="cluster."):
    """An http(s):// or file:// URL in which only the allowed {fields} may be filled in. `prefix`: what messages
    put before the setting's name."""
    if re.search(r"\s", value):
        raise ConfigError(f"{prefix}{name} {value!r} contains white space or a line break: give one URL")
    if not re.match(r"(https?|file)://[^/]", value) and not value.startswith("file:///"):
        raise ConfigError(f"{prefix}{name} {value!r} is not an http(s):// or file:// URL")
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError:
        parts = None
    if parts is None or any(f is not None and (f not in allowed or spec or conv) for _, f, spec, conv in parts):
        fields = " and ".join("{" + f + "}" for f in allowed)
        raise ConfigError(f"{prefix}{name} {value!r}: only {fields} may stand in braces; write a literal brace "
                          f"as {{{{ or }}}}")


def _containerd(settings):
    if settings.containerd_source not in CONTAINERD_SOURCES:
        raise ConfigError(f"cluster.containerd_source {settings.containerd_source!r} is not one of "
                          f"{', '.join(CONTAINERD_SOURCES)}: release (containerd's upstream release, the default) or "
                          f"os (the distribution's package, where the minor supports its version)")
    for name in ("containerd_version", "runc_version"):
        if not re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", getattr(settings, name), re.ASCII):
            raise ConfigError(f"cluster.{name} {getattr(settings, name)!r} is not a release version: use the form "
                              f"X.Y.Z, e.g. '{getattr(ClusterSettings, name)}'")
    minor = settings.kubernetes_version
    if settings.containerd_source == "release" and not versions.containerd_supported(minor,
                                                                                     settings.containerd_version):
        raise ConfigError(f"cluster.containerd_version {settings.containerd_version} does not work with Kubernetes "
                          f"{minor}, which needs {versions.containerd_wanted(minor)}: set a containerd version it "
                          f"supports, e.g. '{ClusterSettings.containerd_version}'")


def check_hosts(master_ips, minion_ips, cluster):
    """No host listed twice across the cluster, and no host inside the pod or service network. `master_ips`: one
    address or a list."""
    masters, seen = [master_ips] if isinstance(master_ips, str) else master_ips, {}
    for ip in masters:
        if ip in seen:
            raise ConfigError(f"{ip}: listed twice as a master: give each host once")
        seen[ip] = "a master" if len(masters) > 1 else "the master"
    for ip in minion_ips:
        if ip in seen:
            raise ConfigError(f"{ip}: listed as a minion but it is already {seen[ip]}: "
                              f"give each host once, master_ip apart from minion_ips")
        seen[ip] = "a minion"
    for ip in seen:
        address = ipaddress.ip_address(ip)
        for name in ("pod_network_cidr", "service_cidr"):
            network = ipaddress.ip_network(getattr(cluster, name))
            if address.version == network.version and address in network:
                raise ConfigError(f"{ip}: the host's address is inside cluster.{name} {network}: choose a "
                                  f"{name.split('_')[0]} network that does not hold any host")
