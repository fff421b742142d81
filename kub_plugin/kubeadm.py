"""kubeadm's init and join configuration, rendered from data with PyYAML (values are never pasted into YAML)."""
import re
import secrets
import string

import yaml

from .config import API_PORT, version_tuple

# kubeadm.k8s.io/v1beta4 arrived with 1.31; older minors read v1beta3 (the fields kub sets are alike in both)
V1BETA4_SINCE = (1, 31)
INIT_TOKEN_TTL = "15m"
TOKEN_ALPHABET = string.ascii_lowercase + string.digits
TOKEN = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")


def api_version(kubernetes_version):
    beta = "v1beta4" if version_tuple(kubernetes_version) >= V1BETA4_SINCE else "v1beta3"
    return f"kubeadm.k8s.io/{beta}"


def host_port(ip):
    return f"[{ip}]:{API_PORT}" if ":" in ip else f"{ip}:{API_PORT}"


def new_token():
    """A bootstrap token (id.secret) made here, so kub knows its id without reading kubeadm's output."""
    pick = lambda n: "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(n))  # noqa: E731
    return f"{pick(6)}.{pick(16)}"


def token_id(token):
    return token.split(".", 1)[0]


def init_configuration(cluster, ip, node_name, kubeadm_version, token):
    """InitConfiguration + ClusterConfiguration for the master. Holds a bootstrap token: a secret."""
    api = api_version(cluster.kubernetes_version)
    init = {
        "apiVersion": api, "kind": "InitConfiguration",
        "bootstrapTokens": [{"token": token, "ttl": INIT_TOKEN_TTL,
                             "description": "made by kubeadm init for kub; removed once init is done"}],
        "localAPIEndpoint": {"advertiseAddress": ip, "bindPort": API_PORT},
        "nodeRegistration": {"name": node_name, "criSocket": cluster.cri_socket},
    }
    clustered = {
        "apiVersion": api, "kind": "ClusterConfiguration",
        # pinned to the installed kubeadm, so no lookup of the latest release on the internet
        "kubernetesVersion": kubeadm_version,
        "controlPlaneEndpoint": host_port(ip),
        "networking": {"podSubnet": cluster.pod_network_cidr, "serviceSubnet": cluster.service_cidr},
    }
    return yaml.safe_dump_all([init, clustered], sort_keys=False)


def join_configuration(cluster, endpoint, token, ca_cert_hash, node_name):
    """JoinConfiguration for a minion. Holds a bootstrap token: a secret."""
    return yaml.safe_dump({
        "apiVersion": api_version(cluster.kubernetes_version), "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {"apiServerEndpoint": endpoint, "token": token,
                                         "caCertHashes": [ca_cert_hash]}},
        "nodeRegistration": {"name": node_name, "criSocket": cluster.cri_socket},
    }, sort_keys=False)


def record(cluster):
    """The settings a host is initialised or joined with, as kub records them on the host (key=value lines)."""
    return "\n".join(f"{key}={getattr(cluster, key)}" for key in RECORDED)


# what a running cluster cannot change by a re-install
RECORDED = ("kubernetes_version", "pod_network_cidr", "service_cidr", "cri_socket")
