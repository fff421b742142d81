"""kubeadm's init and join configuration, rendered from data with PyYAML (values are never pasted into YAML)."""
import re
import secrets
import string

import yaml

from ..hosts.state import API_PORT
from . import versions
from .control_plane import endpoint

INIT_TOKEN_TTL = "15m"
TOKEN_ALPHABET = string.ascii_lowercase + string.digits
TOKEN = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")


def host_port(ip):
    return f"[{ip}]:{API_PORT}" if ":" in ip else f"{ip}:{API_PORT}"


def new_token():
    """A bootstrap token (id.secret) made here, so kub knows its id without reading kubeadm's output."""
    pick = lambda n: "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(n))  # noqa: E731
    return f"{pick(6)}.{pick(16)}"


def token_id(token):
    return token.split(".", 1)[0]


def init_configuration(settings, ip, node_name, kubeadm_version, token, cgroup_v1, api_address=""):
    """InitConfiguration + ClusterConfiguration (+ KubeletConfiguration) for the master. `api_address`: the
    control plane's endpoint (host:port; '' is this master itself). Holds a bootstrap token: a secret."""
    api = versions.kubeadm_api(settings.kubernetes_version)
    init = {
        "apiVersion": api, "kind": "InitConfiguration",
        "bootstrapTokens": [{"token": token, "ttl": INIT_TOKEN_TTL,
                             "description": "made by kubeadm init for kub; removed once init is done"}],
        "localAPIEndpoint": {"advertiseAddress": ip, "bindPort": API_PORT},
        "nodeRegistration": _node_registration(settings, node_name, cgroup_v1),
    }
    clustered = {
        "apiVersion": api, "kind": "ClusterConfiguration",
        # pinned to the installed kubeadm, so no lookup of the latest release on the internet
        "kubernetesVersion": kubeadm_version,
        "controlPlaneEndpoint": api_address or host_port(ip),
        "networking": {"podSubnet": settings.pod_network_cidr, "serviceSubnet": settings.service_cidr},
    }
    documents = [init, clustered]
    if settings.allow_cgroup_v1:
        # kubeadm uploads it as the cluster's kubelet-config, so joining kubelets get it too
        documents.append({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                          "cgroupDriver": "systemd", "failCgroupV1": False})
    return yaml.safe_dump_all(documents, sort_keys=False)


def join_configuration(settings, endpoint, token, ca_cert_hash, node_name, cgroup_v1, control_plane=None):
    """JoinConfiguration for a minion, or with `control_plane` ((its address, the certificate key of the uploaded
    control-plane certificates)) for another master. Holds a bootstrap token (and the key): secrets."""
    config = {
        "apiVersion": versions.kubeadm_api(settings.kubernetes_version), "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {"apiServerEndpoint": endpoint, "token": token,
                                         "caCertHashes": [ca_cert_hash]}},
        "nodeRegistration": _node_registration(settings, node_name, cgroup_v1),
    }
    if control_plane:
        ip, certificate_key = control_plane
        config["controlPlane"] = {"localAPIEndpoint": {"advertiseAddress": ip, "bindPort": API_PORT},
                                  "certificateKey": certificate_key}
    return yaml.safe_dump(config, sort_keys=False)


def new_certificate_key():
    """The key kubeadm encrypts the uploaded control-plane certificates with (as `kubeadm certs certificate-key`
    makes: 32 random bytes, hex). A secret."""
    return secrets.token_hex(32)


def _node_registration(settings, node_name, cgroup_v1):
    registration = {"name": node_name, "criSocket": settings.cri_socket}
    if cgroup_v1 and settings.allow_cgroup_v1:
        # kubeadm's SystemVerification fails on cgroup v1 hosts; the user allowed them (and the kubelet is told
        # failCgroupV1: false), so only that check is let pass
        registration["ignorePreflightErrors"] = ["SystemVerification"]
    return registration


def record(settings):
    """The settings a host is initialised or joined with, as kub records them on the host (key=value lines)."""
    return "\n".join(f"{key}={recorded_value(settings, key)}" for key in RECORDED)


def recorded_value(settings, key):
    """A setting as kub records it: the endpoint as host:port, or `none` (a cluster made without one cannot get one:
    kubeadm cannot turn a cluster of one master without an endpoint into one of several)."""
    if key == "control_plane_endpoint":
        found = endpoint(settings)
        return found.address if found else "none"
    return getattr(settings, key)


# what a running cluster cannot change by a re-install
RECORDED = ("kubernetes_version", "pod_network_cidr", "service_cidr", "cri_socket", "control_plane_endpoint")
