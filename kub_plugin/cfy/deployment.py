"""What the blueprint says about a cluster: its master, its minion nodes and their hosts.

Reads the Cloudify context: the current node, and the deployment's other nodes through local mode's storage
or, on a Cloudify Manager, its REST API. No host is touched here.
"""
import re
import uuid

from cloudify.constants import RELATIONSHIP_INSTANCE

from ..cluster.control_plane import api_address, check_masters
from ..cluster.properties import cluster_settings, host_addresses, node_settings, ssh_settings
from ..errors import ConfigError
from ..hosts.failover import first_answering

MASTER_TYPE = "kub.nodes.Master"
MASTER_RELATIONSHIP = "kub.relationships.connected_to_master"
# a master's runtime property: why its last operation failed, so its minions stop waiting for it
MASTER_FAILED = "failed"
# a master's runtime property: its cluster's id, made at its first create unless its cluster_id property gives one
CLUSTER_ID = "cluster_id"
CLUSTER_ID_FORM = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Cluster:
    """A master node's cluster: its settings, its master hosts (the first initialises it), the endpoint of its API
    (cluster.control_plane) and the id that marks its hosts as its own.

    The id is random, made at the master's first create and kept in its runtime properties, so another
    deployment is another cluster whatever its name; `name` (deployment/master node) only names it in messages.
    Each host's owner mark (/var/lib/kub/owner) holds both, written before kub changes the host."""

    def __init__(self, deployment_id, master_id, master_props, master_runtime=None):
        if not master_props.get("ip"):
            raise ConfigError(f"master node {master_id} has no ip: set its ip property")
        self.settings = cluster_settings(master_props)
        # the record's masters (the blueprint's, less those kub_remove_masters took out)
        self.master_hosts = [ssh_settings(master_props, ip)
                             for ip in recorded_addresses(master_props, master_id, master_runtime)]
        self.master_ssh = self.master_hosts[0]
        self.endpoint = check_masters(master_id, [h.ip for h in self.master_hosts], self.settings)
        self.master_id = master_id
        self.name = f"{deployment_id}/{master_id}"
        self.id = given_cluster_id(master_props, master_id) or (master_runtime or {}).get(CLUSTER_ID, "")

    @property
    def api_address(self):
        """host:port where nodes and clients reach the API: its endpoint, or its one master."""
        return api_address(self.endpoint, self.master_ssh.ip)

    def open_master(self, logger, plan=None):
        """An open Host of the first of its masters that answers: where kubectl and kubeadm's tokens run."""
        return first_answering(self.master_hosts, logger, plan)

    def make_id(self):
        """A new random id, for a master's first create (kept by its caller in the master's runtime properties)."""
        if not self.id:
            self.id = str(uuid.uuid4())
        return self.id

    @property
    def mark(self):
        """The owner mark's line: the id, then the name."""
        if not self.id:
            raise ConfigError(f"master node {self.master_id} has no cluster id yet: run install, whose create of "
                              f"the master makes one")
        return f"{self.id} {self.name}"


def given_cluster_id(master_props, master_id):
    """The master's cluster_id property: '' (made at the first create), or the id of a cluster kub made."""
    given = master_props.get(CLUSTER_ID) or ""
    if given and not (isinstance(given, str) and CLUSTER_ID_FORM.fullmatch(given)):
        raise ConfigError(f"master node {master_id}: cluster_id {given!r} is not a cluster id kub made: give the "
                          f"cluster_id output of the deployment that installed the cluster (as "
                          f"123e4567-e89b-42d3-a456-426614174000), or '' for a new cluster")
    return given


def is_master(ctx):
    return MASTER_TYPE in ctx.node.type_hierarchy


def role(ctx):
    return "master" if is_master(ctx) else "minion"


# A minion node instance's record of its hosts (runtime properties): the addresses it holds (the blueprint's, and
# those kub_add_minions added) and those kub_remove_minions took out (never touched again, even while the blueprint
# still lists them). Every operation and workflow works on the record; before a node's first create, on the blueprint.
HOSTS = "hosts"
REMOVED_HOSTS = "removed_hosts"


def recorded_addresses(props, node_id, runtime=None):
    """The addresses of a node's hosts: its record, with what the blueprint lists beside it (unless removed)."""
    listed = host_addresses(props, node_id)
    runtime = runtime or {}
    if HOSTS not in runtime:
        return listed
    held, removed = list(runtime[HOSTS]), set(runtime.get(REMOVED_HOSTS) or [])
    return held + [ip for ip in listed if ip not in held and ip not in removed]


def hosts(props, node_id, runtime=None):
    """SSH settings of a node's hosts (its record's, when `runtime`, its instance's runtime properties, has one)."""
    return [ssh_settings(props, ip) for ip in recorded_addresses(props, node_id, runtime)]


def own_hosts(ctx):
    """SSH settings of the hosts of the current node instance (or of a relationship's source)."""
    if ctx.type == RELATIONSHIP_INSTANCE:
        return hosts(ctx.source.node.properties, ctx.source.node.id, ctx.source.instance.runtime_properties)
    return hosts(ctx.node.properties, ctx.node.id, ctx.instance.runtime_properties)


def settings(ctx):
    """The current node's own settings (timeouts)."""
    return settings_of(ctx.node)


def settings_of(node):
    return node_settings(node.properties, node.id)


def cluster_of(ctx):
    """The cluster of the current node: its own for a master, its master's for a minion."""
    if ctx.type == RELATIONSHIP_INSTANCE:
        target = ctx.target
    elif is_master(ctx):
        target = ctx
    else:
        target = master_relationship(ctx).target
    return Cluster(ctx.deployment.id, target.node.id, target.node.properties, target.instance.runtime_properties)


def master_relationship(ctx):
    for relationship in ctx.instance.relationships:
        if MASTER_RELATIONSHIP in relationship.type_hierarchy:
            return relationship
    raise ConfigError(f"node {ctx.node.id} has no {MASTER_RELATIONSHIP} relationship: "
                      f"connect each minion node to its master with it")


def master_failure(ctx):
    """What made the master's last operation fail ('' while it has not), fresh from Cloudify's storage."""
    instance = _master_instance(ctx)
    instance.refresh()
    return instance.runtime_properties.get(MASTER_FAILED, "")


def master_runtime_properties(ctx):
    """What the master's operations recorded (read by a minion's operations)."""
    return _master_instance(ctx).runtime_properties


def _master_instance(ctx):
    return ctx.target.instance if ctx.type == RELATIONSHIP_INSTANCE else master_relationship(ctx).target.instance


def minion_hosts(ctx, master_id):
    """{minion node id: [SshSettings]} of every minion node connected to this master, from the deployment (each
    node's record of its hosts)."""
    records = instance_records(operation_storage(ctx), ctx.deployment.id)
    return {node_id: hosts(props, node_id, records.get(node_id)) for node_id, props in
            minion_nodes(ctx, master_id).items()}


def instance_records(storage, deployment_id):
    """{node id: its (first) instance's runtime properties}, from local mode's storage or the manager's REST API."""
    if is_local(storage):
        found = storage.get_node_instances()
    else:
        from cloudify.manager import get_rest_client  # on a manager: its REST API
        found = get_rest_client().node_instances.list(deployment_id=deployment_id, _get_all_results=True)
    records = {}
    for instance in found:
        records.setdefault(instance.node_id, dict(instance.runtime_properties or {}))
    return records


def minion_nodes(ctx, master_id):
    """{minion node id: properties} of every minion node connected to this master, from the deployment."""
    return connected_nodes(_deployment_nodes(ctx), master_id, MASTER_RELATIONSHIP)


def connected_nodes(found, target_id, relationship):
    """{node id: properties} of the nodes (deployment_nodes' list) with that relationship to that node."""
    return {node["id"]: node.get("properties") or {} for node in found
            if any(r.get("target_id") == target_id and relationship in r.get("type_hierarchy", [])
                   for r in node.get("relationships") or [])}


def _deployment_nodes(ctx):
    return deployment_nodes(operation_storage(ctx), ctx.deployment.id)


def operation_storage(ctx):
    """An operation's local-mode storage (None on a manager)."""
    return getattr(getattr(ctx, "_endpoint", None), "storage", None)


def is_local(storage):
    """Whether an operation's or workflow's storage is cfy's local mode (a manager's have none)."""
    return storage is not None and hasattr(storage, "get_nodes")


def deployment_nodes(storage, deployment_id):
    """The deployment's nodes with their properties' functions (get_input, get_secret) evaluated: from local
    mode's storage (an operation finds it on ctx._endpoint, a workflow on ctx.internal.handler), else from the
    manager's REST API."""
    if is_local(storage):
        return storage.get_nodes(evaluate_functions=True)
    from cloudify.manager import get_rest_client  # on a manager: its REST API
    return get_rest_client().nodes.list(deployment_id=deployment_id, evaluate_functions=True,
                                        _get_all_results=True)


def blueprint_nodes(storage, blueprint_id):
    """The blueprint's nodes as written (their properties' get_input not evaluated): from local mode's storage,
    else from the manager's REST API."""
    if is_local(storage):
        return storage.get_blueprint()["plan"]["nodes"]
    from cloudify.manager import get_rest_client  # on a manager: its REST API
    return get_rest_client().blueprints.get(blueprint_id).plan["nodes"]


WORKLOAD_RELATIONSHIP = "kub.relationships.deployed_on"
def workload_nodes(ctx, master_id):
    """{node id: properties} of every Workload node deployed_on this master, from the deployment."""
    return connected_nodes(_deployment_nodes(ctx), master_id, WORKLOAD_RELATIONSHIP)
