"""Where kubectl runs for a cluster a workload or a kub_* workflow acts on: a control-plane host of a cluster kub
installed (a Master node; the first of its masters that answers) or of one it only reaches (an ExistingCluster: a
control-plane host reached by SSH, or the machine running cfy itself, with the cluster's kubeconfig)."""
import hashlib
import os
from dataclasses import dataclass

from ..cluster.kubeconfig_access import kubeconfig_access, uses_kubeconfig
from ..cluster.properties import ssh_settings
from ..errors import ConfigError
from ..hosts import state
from ..hosts.failover import first_answering
from ..local import places
from ..local.host import PRIVATE_KUBECONFIG, LocalHost
from .deployment import MASTER_TYPE, WORKLOAD_RELATIONSHIP, Cluster, is_local, operation_storage

EXISTING_TYPE = "kub.nodes.ExistingCluster"
# the node types a workload or a kub_* workflow acts on: a cluster kub installed, or one it only reaches
CLUSTER_TYPES = (MASTER_TYPE, EXISTING_TYPE)


@dataclass(frozen=True)
class ControlPlane:
    """Where kubectl runs for a cluster: a control-plane host reached by SSH, and the kubeconfig there; or, with
    `access`, the machine running cfy (local.host). Changes run under `lock` (an flock file): kub's host lock on a
    master; on a cluster kub did not install, the kubeconfig itself, a file that is there already, so that nothing
    is added to that host; from the machine running cfy, a lock file in kub's folder there, one per API server."""
    ssh: object          # cluster.settings.SshSettings (None with access)
    kubeconfig: str
    node_id: str
    lock: str = state.LOCK_FILE
    allow_plain_http: bool = False   # whether its workloads' manifests may come from http:// URLs
    standby: tuple = ()  # the other masters of a cluster with several, tried in turn when `ssh` does not answer
    access: object = None   # cluster.kubeconfig_access.KubeconfigAccess: the cluster reached through a kubeconfig

    def open(self, logger, plan=None):
        """A Host (a context manager, open once entered) of the first of its masters that answers, or of the
        machine running cfy."""
        if self.access is not None:
            return LocalHost(self.access, logger, plan)
        return first_answering((self.ssh, *self.standby), logger, plan)

    @property
    def where(self):
        """How a plan names where kubectl runs: the host's address, or the API server's URL."""
        return self.access.endpoint if self.access is not None else self.ssh.ip


def control_plane(deployment_id, node_id, type_hierarchy, props, runtime=None, local_mode=False):
    """The control plane of a Master or ExistingCluster node, from its type and properties (and a Master's record of
    its hosts, its instance's runtime properties). `local_mode`: cfy's local mode, where a blueprint may name a file
    of the machine running cfy (kubeconfig_file); on a manager it would be the worker's."""
    if MASTER_TYPE in type_hierarchy:
        cluster = Cluster(deployment_id, node_id, props, runtime)
        return ControlPlane(cluster.master_ssh, state.ADMIN_CONF, node_id,
                            allow_plain_http=cluster.settings.allow_plain_http,
                            standby=tuple(cluster.master_hosts[1:]))
    if EXISTING_TYPE in type_hierarchy:
        allow_plain_http = props.get("allow_plain_http", False)
        if not isinstance(allow_plain_http, bool):
            raise ConfigError(f"node {node_id}: allow_plain_http {allow_plain_http!r} is not true or false")
        if uses_kubeconfig(props, node_id):
            access = kubeconfig_access(props, node_id, local_mode)
            lock = os.path.join(places.kub_dir("locks"), f"{hashlib.sha256(access.endpoint.encode()).hexdigest()[:16]}"
                                                         f".lock")
            return ControlPlane(None, access.file or PRIVATE_KUBECONFIG, node_id, lock=lock,
                                allow_plain_http=allow_plain_http, access=access)
        ssh = ssh_settings(props, props["ip"])
        kubeconfig = existing_kubeconfig(props, node_id)
        return ControlPlane(ssh, kubeconfig, node_id, lock=kubeconfig, allow_plain_http=allow_plain_http)
    raise ConfigError(f"node {node_id} is neither a {MASTER_TYPE} nor an {EXISTING_TYPE}: point at the node of "
                      f"the cluster")


def existing_kubeconfig(props, node_id):
    """An ExistingCluster's kubeconfig_path: an absolute path on its control-plane host, safe on a command line."""
    path = props.get("kubeconfig_path", state.ADMIN_CONF)
    if not isinstance(path, str) or not path.startswith("/") or path.endswith("/") or \
            any(c in path for c in "\n\r\t\0 '\"$`\\;&|<>*?()[]{}#~!"):
        where = f"{props['ip']}: " if isinstance(props.get("ip"), str) and props.get("ip") else ""
        raise ConfigError(f"{where}node {node_id}: kubeconfig_path {path!r} must be the absolute path of a file on "
                          f"the control-plane host, without spaces, quotes or shell characters, e.g. "
                          f"{state.ADMIN_CONF}")
    return path


def workload_cluster(ctx):
    """The control plane a workload is applied on: its deployed_on target's (a Master or an ExistingCluster)."""
    found = [r for r in ctx.instance.relationships if WORKLOAD_RELATIONSHIP in r.type_hierarchy]
    if len(found) != 1:
        raise ConfigError(f"node {ctx.node.id} has {'no' if not found else len(found)} {WORKLOAD_RELATIONSHIP} "
                          f"relationship{'s' if found else ''}: give each workload one, to the {MASTER_TYPE} or "
                          f"{EXISTING_TYPE} node of its cluster")
    target = found[0].target
    if not any(t in target.node.type_hierarchy for t in CLUSTER_TYPES):
        raise ConfigError(f"node {ctx.node.id}: {WORKLOAD_RELATIONSHIP} targets {target.node.id}, which is neither a "
                          f"{MASTER_TYPE} nor an {EXISTING_TYPE}: point it at the node of its cluster")
    return control_plane(ctx.deployment.id, target.node.id, target.node.type_hierarchy, target.node.properties,
                         target.instance.runtime_properties, is_local(operation_storage(ctx)))
