"""A cluster kub did not install, read through kubectl (on its control-plane host, or on the machine running cfy
with its kubeconfig): changes nothing."""
import json
from dataclasses import dataclass

from ..hosts import state
from ..hosts.commands import Command, Raw
from ..hosts.runner import StepError, error_line, ok_or_raise
from .nodes import READ_TIMEOUT, kubectl_command, node_states


@dataclass(frozen=True)
class ClusterView:
    """What a control plane's API server tells of its cluster (nothing of the kubeconfig but the server URL)."""
    endpoint: str
    version: str
    nodes: dict    # {node name: Ready status 'True'/'False'/'Unknown'}


def check_kubeconfig_path(host, kubeconfig):
    """On a control-plane host reached by SSH: kubectl is there, and so is the kubeconfig (kubeconfig_path)."""
    probe = host.run(Command(Raw("if ! command -v kubectl >/dev/null; then echo no-kubectl; elif [ ! -f"), kubeconfig,
                             Raw("]; then echo no-kubeconfig; fi")), sudo=True, timeout=READ_TIMEOUT)
    ok_or_raise(host, probe, "looking for kubectl and the kubeconfig")
    if "no-kubectl" in probe.stdout:
        raise StepError(f"{host.ip}: kubectl is not installed on this control-plane host (root finds none in its "
                        f"PATH): install the kubectl of the cluster's Kubernetes minor there, or set ip to a "
                        f"control-plane host that has it")
    if "no-kubeconfig" in probe.stdout:
        raise StepError(f"{host.ip}: kubeconfig_path {kubeconfig} is not a file on this host: set kubeconfig_path "
                        f"to the cluster's admin kubeconfig there (kubeadm writes {state.ADMIN_CONF})")


def cluster_view(host, kubeconfig, described=None):
    """Reads a cluster through kubectl with that kubeconfig (`described`: how messages name it; kubeconfig_path on a
    control-plane host by default): the API server's URL, its Kubernetes version and its nodes. Changes nothing.
    Each problem is one line naming where kubectl ran, what is wrong and the fix."""
    usable, works = ("give the cluster's admin kubeconfig", "on the machine running cfy") if described else \
        ("point kubeconfig_path at the cluster's admin kubeconfig on this host", "there as root")
    described = described or f"kubeconfig_path {kubeconfig}"
    kubectl = kubectl_command(kubeconfig)
    server = host.run(Command(kubectl, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"),
                      sudo=True, timeout=READ_TIMEOUT)
    if not server.ok or not server.stdout.strip():
        raise StepError(f"{host.ip}: {described} is not a usable kubeconfig "
                        f"({error_line(server)[:200] if not server.ok else 'no server in its current context'}): "
                        f"{usable}")
    endpoint = server.stdout.strip()
    version = host.run(Command(kubectl, "version", "-o", "json"), sudo=True, timeout=READ_TIMEOUT)
    answer = json.loads(version.stdout or "{}").get("serverVersion", {}) if version.ok else {}
    if not answer.get("gitVersion"):
        raise StepError(f"{host.ip}: the API server {endpoint} does not answer through {described} "
                        f"({error_line(version)[:200]}): check that the cluster runs and that "
                        f"`{Command('kubectl', '--kubeconfig', kubeconfig, 'get', 'nodes')}` works {works}")
    return ClusterView(endpoint, answer["gitVersion"], node_states(host, kubectl))
