"""Settings read from node properties, checked before any host is touched.

Every problem is a one-line ConfigError that names the setting (and host) and says how to fix it.
"""
import ipaddress
import re
from dataclasses import dataclass, field

DEFAULT_REPOSITORY_URL = "https://pkgs.k8s.io/core:/stable:/v{version}/deb/"
DEFAULT_REPOSITORY_KEY_URL = "https://pkgs.k8s.io/core:/stable:/v{version}/deb/Release.key"
DEFAULT_CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
API_PORT = 6443


class ConfigError(Exception):
    """Bad input: nothing was changed on any host."""


@dataclass(frozen=True)
class SshSettings:
    ip: str
    user: str = "root"
    port: int = 22
    private_key_path: str = ""
    private_key: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    sudo_password: str = field(default="", repr=False)
    connect_timeout: int = 10
    known_hosts_path: str = "~/.ssh/known_hosts"
    host_key_fingerprint: str = ""
    verify_host_key: bool = True


@dataclass(frozen=True)
class ClusterSettings:
    kubernetes_version: str = "1.31"
    pod_network_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    cni_manifest: str = ""
    package_repository_url: str = DEFAULT_REPOSITORY_URL
    package_repository_key_url: str = DEFAULT_REPOSITORY_KEY_URL
    purge_packages: bool = False
    cri_socket: str = DEFAULT_CRI_SOCKET

    @property
    def repository_url(self):
        url = self.package_repository_url.format(version=self.kubernetes_version)
        return url if url.endswith("/") else url + "/"

    @property
    def repository_key_url(self):
        return self.package_repository_key_url.format(version=self.kubernetes_version)


def ssh_settings(props, ip):
    """SshSettings for one host from a node's `ssh` and `ip` properties."""
    ssh = dict(props.get("ssh") or {})
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ConfigError(f"{ip!r}: not an IP address: set ip to the host's IPv4 or IPv6 address")
    known = {k: ssh[k] for k in SshSettings.__dataclass_fields__ if k in ssh and k != "ip"}
    unknown = sorted(set(ssh) - set(SshSettings.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{ip}: unknown ssh setting(s) {', '.join(unknown)}: "
                          f"use {', '.join(f for f in SshSettings.__dataclass_fields__ if f != 'ip')}")
    settings = SshSettings(ip=ip, **known)
    if not settings.user:
        raise ConfigError(f"{ip}: ssh.user is empty: set the login user (e.g. root or a sudoer)")
    if not (settings.private_key_path or settings.private_key or settings.password):
        raise ConfigError(f"{ip}: no SSH credential: set ssh.private_key_path, ssh.private_key or ssh.password")
    if settings.host_key_fingerprint and not settings.host_key_fingerprint.startswith("SHA256:"):
        raise ConfigError(f"{ip}: ssh.host_key_fingerprint must look like SHA256:<base64> "
                          f"(as printed by ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)")
    return settings


def cluster_settings(props):
    cluster = dict(props.get("cluster") or {})
    unknown = sorted(set(cluster) - set(ClusterSettings.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown cluster setting(s) {', '.join(unknown)}: "
                          f"use {', '.join(ClusterSettings.__dataclass_fields__)}")
    settings = ClusterSettings(**cluster)
    validate_cluster(settings)
    return settings


def validate_cluster(settings):
    if not re.fullmatch(r"1\.\d{1,3}", str(settings.kubernetes_version)):
        raise ConfigError(f"kubernetes_version {settings.kubernetes_version!r} is not a minor version: "
                          f"use the form 1.NN, e.g. '1.31' (quote it in YAML)")
    networks = {}
    for name in ("pod_network_cidr", "service_cidr"):
        value = getattr(settings, name)
        try:
            networks[name] = ipaddress.ip_network(value, strict=True)
        except ValueError as err:
            raise ConfigError(f"{name} {value!r} is not a valid CIDR ({err}): use a network like 10.244.0.0/16")
    pods, services = networks["pod_network_cidr"], networks["service_cidr"]
    if pods.version == services.version and pods.overlaps(services):
        raise ConfigError(f"pod_network_cidr {pods} and service_cidr {services} overlap: "
                          f"choose networks that do not (defaults: 10.244.0.0/16 and 10.96.0.0/12)")
    for name in ("package_repository_url", "package_repository_key_url"):
        value = getattr(settings, name)
        if not re.match(r"(https?|file)://", value):
            raise ConfigError(f"{name} {value!r} is not an http(s):// or file:// URL")


def distinct_hosts(master_ip, minion_ips):
    """Checks that no host is listed twice across the cluster (a host can hold one role only)."""
    seen = {master_ip: "the master"}
    for ip in minion_ips:
        if ip in seen:
            raise ConfigError(f"{ip}: listed as a minion but it is already {seen[ip]}: "
                              f"give each host once, master_ip apart from minion_ips")
        seen[ip] = "a minion"
