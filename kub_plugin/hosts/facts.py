"""Host facts: read with scripts/facts.sh (changes nothing), parsed here."""
import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import RemoteError
from . import scripts


@dataclass
class Facts:
    os_id: str = ""
    os_version: str = ""
    arch: str = ""
    hostname: str = ""
    cgroup_fs: str = ""
    containerd_release: str = ""
    listening: frozenset = frozenset()
    addresses: tuple = ()           # (interface, ipaddress.ip_interface) of each global address
    api_balancer: bool = False      # kub's haproxy and keepalived are set up here
    has_admin_conf: bool = False
    has_kubelet_conf: bool = False
    # the owner mark: `<cluster id> <deployment>/<master node>` (state.OWNER_FILE)
    owner: str = ""
    # what kub recorded when it initialised or joined the host (cluster/kubeadm.RECORDED keys)
    recorded: dict = field(default_factory=dict)
    packages: dict = field(default_factory=dict)
    ca_cert_pem: str = ""

    @property
    def node_name(self):
        # kubeadm registers a node under its lowercased hostname
        return self.hostname.lower()

    def interface_of(self, ip):
        """(interface, ip_interface) holding the address ip, or None."""
        return next((item for item in self.addresses if str(item[1].ip) == ip), None)

    @property
    def cgroup_v1(self):
        return self.cgroup_fs != "cgroup2fs"

    @property
    def owner_id(self):
        return self.owner.split(" ", 1)[0]

    @property
    def owner_name(self):
        """The owning deployment/master node, for messages (a mark without one: all of it)."""
        return self.owner.split(" ", 1)[-1]

    @property
    def initialised(self):
        """kub's kubeadm init finished here: kubeadm's admin.conf, and kub's record, which init.sh writes last. An
        admin.conf without it is an init that failed half way."""
        return self.has_admin_conf and bool(self.recorded)

    @property
    def joined(self):
        """Part of some Kubernetes cluster (kubeadm left its kubeconfigs here)."""
        return self.has_admin_conf or self.has_kubelet_conf

    @property
    def ca_cert_hash(self):
        return ca_cert_hash(self.ca_cert_pem) if self.ca_cert_pem else ""


def parse(text):
    raw = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    packages = dict(item.split("=", 1) for item in raw.get("packages", "").split())
    return Facts(
        os_id=raw.get("os_id", ""),
        os_version=raw.get("os_version", ""),
        arch=raw.get("arch", ""),
        hostname=raw.get("hostname", ""),
        cgroup_fs=raw.get("cgroup_fs", ""),
        containerd_release=raw.get("containerd_release", ""),
        listening=frozenset(int(p) for p in raw.get("listening", "").split()),
        addresses=tuple(_address(item) for item in raw.get("addresses", "").split()),
        api_balancer=raw.get("api_balancer") == "yes",
        has_admin_conf=raw.get("has_admin_conf") == "yes",
        has_kubelet_conf=raw.get("has_kubelet_conf") == "yes",
        owner=raw.get("owner", ""),
        recorded={k[len("recorded_"):]: v for k, v in raw.items() if k.startswith("recorded_")},
        packages=packages,
        ca_cert_pem=base64.b64decode(raw["ca_cert"]).decode() if raw.get("ca_cert") else "",
    )


def _address(item):
    dev, _, address = item.partition("=")
    return dev, ipaddress.ip_interface(address)


def gather(host):
    call = scripts.FACTS.call()
    result = host.run_script(call.name, env=call.env, timeout=60)
    if not result.ok:
        raise RemoteError(f"{host.ip}: reading host facts failed: {result.stderr.strip()[:200]}")
    return parse(result.stdout)


def ca_cert_hash(pem):
    """kubeadm's discovery pin: sha256 of the CA certificate's DER SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()
