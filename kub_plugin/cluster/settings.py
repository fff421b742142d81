"""The settings of a cluster, its nodes and their SSH, with every default (plugin.yaml and the blueprint repeat them;
a unit test keeps them equal). properties.py reads and checks them from node properties."""
from dataclasses import dataclass, field, fields

from . import versions

DEFAULT_REPOSITORY_URL = "https://pkgs.k8s.io/core:/stable:/v{version}/deb/"
DEFAULT_REPOSITORY_KEY_URL = "https://pkgs.k8s.io/core:/stable:/v{version}/deb/Release.key"
DEFAULT_CNI_MANIFEST = "https://github.com/flannel-io/flannel/releases/latest/download/kube-flannel.yml"
DEFAULT_CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
# containerd's and runc's upstream release downloads; {version}, {runc_version} and {arch} are filled in
DEFAULT_CONTAINERD_URL = ("https://github.com/containerd/containerd/releases/download/v{version}/"
                          "containerd-{version}-linux-{arch}.tar.gz")
DEFAULT_RUNC_URL = "https://github.com/opencontainers/runc/releases/download/v{runc_version}/runc.{arch}"
DEFAULT_CONTAINERD_UNIT_URL = "https://raw.githubusercontent.com/containerd/containerd/v{version}/containerd.service"
# etcd's release, for its tools (etcdctl, etcdutl) at the cluster's etcd version (backups); SHA256SUMS is beside it
DEFAULT_ETCD_URL = "https://github.com/etcd-io/etcd/releases/download/v{version}/etcd-v{version}-linux-{arch}.tar.gz"
CONTAINERD_SOURCES = ("release", "os")
# who balances the API of several masters: the user's own (an endpoint that is theirs), or kub's haproxy and
# keepalived on the masters with a virtual IP; '' is the user's when an endpoint is given, else none
API_LOAD_BALANCERS = ("", "external", "keepalived")
# the cluster settings that are URLs kub fetches on the machine running cfy (https, or http where allowed)
URL_SETTINGS = ("cni_manifest", "package_repository_url", "package_repository_key_url", "containerd_url",
                "runc_url", "containerd_unit_url", "etcd_url")


@dataclass(frozen=True)
class BastionSettings:
    """The jump host a node's hosts are reached through (ssh.bastion): its own login, and its own host key, checked
    against ssh.known_hosts_path or pinned here. No key and no key text: the ssh-agent's keys."""
    address: str = ""
    port: int = 22
    user: str = "root"
    private_key_path: str = ""
    private_key: str = field(default="", repr=False)
    private_key_passphrase: str = field(default="", repr=False)
    host_key_fingerprint: str = ""


@dataclass(frozen=True)
class SshSettings:
    ip: str
    user: str = "root"
    port: int = 22
    private_key_path: str = ""
    private_key: str = field(default="", repr=False)
    private_key_passphrase: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    sudo_password: str = field(default="", repr=False)
    connect_timeout: int = 10
    known_hosts_path: str = "~/.ssh/known_hosts"
    known_hosts: str = field(default="", repr=False)   # known_hosts lines as text: replaces known_hosts_path
    host_key_fingerprint: str = ""
    verify_host_key: bool = True
    bastion: BastionSettings = None   # None: the hosts are reached directly


@dataclass(frozen=True)
class ClusterSettings:
    kubernetes_version: str = versions.DEFAULT_MINOR
    pod_network_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    cni_manifest: str = DEFAULT_CNI_MANIFEST
    package_repository_url: str = DEFAULT_REPOSITORY_URL
    package_repository_key_url: str = DEFAULT_REPOSITORY_KEY_URL
    purge_packages: bool = False
    cri_socket: str = DEFAULT_CRI_SOCKET
    allow_cgroup_v1: bool = False
    containerd_source: str = "release"
    containerd_version: str = "2.1.9"
    runc_version: str = "1.3.3"
    containerd_url: str = DEFAULT_CONTAINERD_URL
    runc_url: str = DEFAULT_RUNC_URL
    containerd_unit_url: str = DEFAULT_CONTAINERD_UNIT_URL
    etcd_url: str = DEFAULT_ETCD_URL
    allow_plain_http: bool = False
    control_plane_endpoint: str = ""
    api_load_balancer: str = ""
    # {registry: {mirrors: [URL, ...], plain_http: bool, ca: PEM}}: where containerd pulls that registry's images
    # from first (registries.py)
    registry_mirrors: dict = field(default_factory=dict)

    @property
    def repository_url(self):
        url = self.package_repository_url.format(version=self.kubernetes_version)
        return url if url.endswith("/") else url + "/"

    @property
    def repository_key_url(self):
        return self.package_repository_key_url.format(version=self.kubernetes_version)

    @property
    def minor(self):
        """The minor version as a comparable tuple, e.g. (1, 31)."""
        return version_tuple(self.kubernetes_version)

    def containerd_downloads(self, arch):
        """{what: URL} of the containerd release files for one architecture (amd64, arm64)."""
        fill = {"version": self.containerd_version, "runc_version": self.runc_version, "arch": arch}
        return {"containerd": self.containerd_url.format(**fill), "runc": self.runc_url.format(**fill),
                "unit": self.containerd_unit_url.format(**fill)}


@dataclass(frozen=True)
class NodeSettings:
    """Properties every kub node has besides its hosts."""
    ready_timeout: int = 300
    master_timeout: int = 900


@dataclass(frozen=True)
class DrainSettings:
    """How a minion node's Kubernetes nodes are drained before they are removed (uninstall)."""
    drain_timeout: int = 120
    force_drain: bool = False


def version_tuple(text):
    return tuple(int(part) for part in text.split(".")[:2])


def field_names(cls):
    return [f.name for f in fields(cls)]
