"""The workflows kub_add_minions and kub_remove_minions: minions join and leave a live cluster
(cluster.membership), and the minion node instance's record of its hosts follows (deployment.HOSTS): uninstall,
heal, check_status and every later workflow work on what it holds. kub_remove_masters: masters leave the control
plane (cluster.masters), and the master node instance's record follows alike. Through the workflow context only,
so the same on a Cloudify Manager."""
from cloudify.decorators import workflow

from ..cluster import masters as membership_masters
from ..cluster import membership
from ..cluster.properties import drain_settings, host_ip, node_settings, ssh_settings
from ..cluster.settings import DrainSettings
from ..errors import ConfigError
from ..hosts.plan import Plan
from ..local.artifacts import Artifacts
from . import deployment
from .control_planes import EXISTING_TYPE
from .errors import cloudify_errors

MINION_TYPE = "kub.nodes.Minion"


class Deployment:
    """The deployment's cluster as the workflows see it: its master, its minion nodes and their records."""

    def __init__(self, ctx, workflow_name):
        self.ctx = ctx
        self.name = workflow_name
        storage = getattr(ctx.internal.handler, "storage", None)   # local mode's; a manager's REST API otherwise
        found = deployment.deployment_nodes(storage, ctx.deployment.id)
        self.records = deployment.instance_records(storage, ctx.deployment.id)
        masters = [node for node in found if deployment.MASTER_TYPE in node["type_hierarchy"]]
        existing = sorted(node["id"] for node in found if EXISTING_TYPE in node["type_hierarchy"])
        if not masters and existing:
            raise ConfigError(f"{workflow_name}: node {existing[0]} is a {EXISTING_TYPE}, a cluster kub did not "
                              f"install: kub does not work on its hosts, which {workflow_name} needs; the kubectl "
                              f"workflows (kub_apply, kub_scale, kub_drain, ...) act on it")
        if len(masters) != 1:
            raise ConfigError(f"{workflow_name}: the deployment has {len(masters)} {deployment.MASTER_TYPE} nodes: "
                              f"it works on a deployment of one cluster")
        master = masters[0]
        self.cluster = deployment.Cluster(ctx.deployment.id, master["id"], master["properties"] or {},
                                          self.records.get(master["id"]))
        if not self.cluster.id:   # (whether the master is this cluster's, initialised, its hosts say)
            raise ConfigError(f"{workflow_name}: the cluster of {self.cluster.name} is not installed: run install "
                              f"first (after a new cfy init, give the master's cluster_id input)")
        self.minions = {node["id"]: node["properties"] or {} for node in found
                        if MINION_TYPE in node["type_hierarchy"]
                        and node["id"] in deployment.connected_nodes(found, master["id"],
                                                                     deployment.MASTER_RELATIONSHIP)}

    def minion_node(self, node_id):
        """The Minion node to act on: the one named, or the only one."""
        if node_id:
            if node_id not in self.minions:
                raise ConfigError(f"{self.name}: node_id {node_id!r} is not a {MINION_TYPE} node of this cluster: "
                                  f"give one of {', '.join(sorted(self.minions)) or 'none'}")
            return node_id
        if len(self.minions) != 1:
            raise ConfigError(f"{self.name}: say which {MINION_TYPE} node with node_id, one of "
                              f"{', '.join(sorted(self.minions)) or 'none (add one to the blueprint)'}")
        return next(iter(self.minions))

    def held(self, node_id):
        """The addresses a minion node's record holds."""
        return deployment.recorded_addresses(self.minions[node_id], node_id, self.records.get(node_id))

    def update_record(self, node_id, added=(), removed=(), names=None):
        """The node instance's record after hosts were added or removed ({address: node name} of those added). A
        removed host the blueprint still lists is remembered as removed, so that install leaves it out."""
        instance = list(self.ctx.get_node(node_id).instances)[0]
        runtime = dict(instance.runtime_properties or {})
        before = self.held(node_id)
        held = [ip for ip in before if ip not in removed] + [ip for ip in added if ip not in before]
        listed = set(deployment.host_addresses(self.minions[node_id], node_id))
        still_removed = (set(runtime.get(deployment.REMOVED_HOSTS) or []) - set(added)) | (set(removed) & listed)
        node_hosts = {name: ip for name, ip in (runtime.get("node_hosts") or {}).items() if ip not in removed}
        node_hosts.update({name: ip for ip, name in (names or {}).items()})
        runtime.update({deployment.HOSTS: held, deployment.REMOVED_HOSTS: sorted(still_removed),
                        "node_hosts": node_hosts, "node_names": sorted(node_hosts)})
        self.ctx.update_node_instance(instance.id, runtime_properties=runtime, force=True)
        self.records[node_id] = runtime


def _listed(workflow_name, value, setting, example):
    """A parameter that lists addresses or names (one alone may be given as a string), each once."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigError(f"{workflow_name}: {setting} {value!r} must be a list, e.g. -p '{{\"{setting}\": "
                          f"[\"{example}\"]}}'")
    items = [item.strip() for item in value]
    return list(dict.fromkeys(host_ip(item, setting) for item in items) if setting == "ips" else dict.fromkeys(items))


@workflow
@cloudify_errors
def add_minions(ctx, ips=None, node_id="", dry_run=False, **_):
    """kub_add_minions: new hosts join the cluster as minions of a Minion node (its ssh settings)."""
    found = Deployment(ctx, "kub_add_minions")
    node_id = found.minion_node(node_id)
    ips = _listed("kub_add_minions", ips or [], "ips", "10.0.0.14")
    if not ips:
        raise ConfigError("kub_add_minions: ips is missing: give the new hosts' addresses, e.g. "
                          "-p '{\"ips\": [\"10.0.0.14\"]}'")
    props = found.minions[node_id]
    others = {h.ip for h in found.cluster.master_hosts} | {ip for other in found.minions if other != node_id
                                                          for ip in found.held(other)}
    plan = Plan(ips) if dry_run else None
    names = membership.add_minions(
        found.cluster, [ssh_settings(props, ip) for ip in ips], others, Artifacts(found.cluster.settings), ctx.logger,
        node_settings(props, node_id).ready_timeout, plan, checked=lambda: found.update_record(node_id, added=ips))
    if plan is not None:
        plan.report(ctx.logger, f"kub_add_minions to {node_id}")
        return
    found.update_record(node_id, added=ips, names=names)
    ctx.logger.info(f"added to {node_id}: {', '.join(f'{name} ({ip})' for ip, name in sorted(names.items()))}")


@workflow
@cloudify_errors
def remove_minions(ctx, ips=None, nodes=None, force=False, dry_run=False, drain_timeout=0, node_id="", **_):
    """kub_remove_minions: minion hosts (by address or node name) leave the cluster: drained, deleted, reset."""
    found = Deployment(ctx, "kub_remove_minions")
    ips = _listed("kub_remove_minions", ips or [], "ips", "10.0.0.14")
    names = _listed("kub_remove_minions", nodes or [], "nodes", "kubh4")
    if not ips and not names:
        raise ConfigError("kub_remove_minions: give ips or nodes to remove, e.g. -p '{\"ips\": [\"10.0.0.14\"]}'")
    owners = {ip: other for other in found.minions for ip in found.held(other)}
    registered = membership.registered_nodes(found.cluster, ctx.logger)
    by_address = {address: name for name, address in registered.items()}
    unknown = [name for name in names if name not in registered]
    if unknown:
        raise ConfigError(f"kub_remove_minions: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a "
                          f"node of this cluster: give node names as kubectl get nodes lists them, or their hosts' "
                          f"ips")
    fallback = found.minion_node(node_id) if node_id or len(found.minions) == 1 else ""
    leaving = {}
    for ip in dict.fromkeys(ips + [registered[name] for name in names]):
        if ip in {h.ip for h in found.cluster.master_hosts}:
            raise ConfigError(f"{ip}: is a master of the cluster: kub_remove_minions removes minions only")
        if ip not in owners and ip not in by_address:
            raise ConfigError(f"{ip}: is not a host of this cluster (no node of the deployment holds it, and the "
                              f"cluster has no node at that address): give the address of one of its minions")
        owner = owners.get(ip, fallback)
        if not owner:
            raise ConfigError(f"{ip}: no minion node of this deployment holds it: say with node_id which node's ssh "
                              f"settings reach it")
        leaving[ip] = owner
    drains = {owner: drain_settings({**found.minions[owner], **({"drain_timeout": drain_timeout}
                                                                 if drain_timeout else {})}, owner)
              for owner in set(leaving.values())}
    plan = Plan([*leaving, found.cluster.master_ssh.ip]) if dry_run else None
    for owner in sorted(set(leaving.values())):
        mine = [ip for ip, node in leaving.items() if node == owner]
        hosts = [membership.Leaving(ssh_settings(found.minions[owner], ip), by_address.get(ip, "")) for ip in mine]
        membership.remove_minions(found.cluster, hosts, drains[owner], force, ctx.logger, plan)
        if plan is None:
            found.update_record(owner, removed=mine)
            ctx.logger.info(f"removed from {owner}: {', '.join(mine)}")
    if plan is not None:
        plan.report(ctx.logger, "kub_remove_minions")


@workflow
@cloudify_errors
def remove_masters(ctx, ips=None, force=False, dry_run=False, drain_timeout=0, **_):
    """kub_remove_masters: masters leave the control plane (an odd count stays): drained, deleted, reset, their etcd
    members removed; the master node instance's record of its hosts follows."""
    found = Deployment(ctx, "kub_remove_masters")
    ips = _listed("kub_remove_masters", ips or [], "ips", "10.0.0.13")
    if not ips:
        raise ConfigError("kub_remove_masters: ips is missing: give the leaving masters' addresses, e.g. "
                          "-p '{\"ips\": [\"10.0.0.13\"]}'")
    masters = {host.ip: host for host in found.cluster.master_hosts}
    stray = [ip for ip in ips if ip not in masters]
    if stray:
        raise ConfigError(f"{', '.join(stray)}: not a master of this cluster (its masters: {', '.join(masters)}): give "
                          f"the addresses of masters to remove")
    drain = DrainSettings(drain_timeout=drain_timeout or DrainSettings.drain_timeout)
    plan = Plan([*ips, *(ip for ip in masters if ip not in ips)]) if dry_run else None
    gone = membership_masters.remove_masters(found.cluster, [masters[ip] for ip in ips], drain, force, ctx.logger,
                                             plan)
    if plan is not None:
        plan.report(ctx.logger, "kub_remove_masters")
        return
    master_id = found.cluster.master_id
    instance = list(ctx.get_node(master_id).instances)[0]
    runtime = dict(instance.runtime_properties or {})
    listed = set(deployment.host_addresses(ctx.get_node(master_id).properties, master_id))
    runtime.update({deployment.HOSTS: [ip for ip in masters if ip not in ips],
                    deployment.REMOVED_HOSTS: sorted(set(runtime.get(deployment.REMOVED_HOSTS) or []) |
                                                     (set(ips) & listed))})
    ctx.update_node_instance(instance.id, runtime_properties=runtime, force=True)
    ctx.logger.info(f"removed from the control plane: {', '.join(ips)}"
                    + (f" ({', '.join(gone)} not cleaned: wipe before it boots again)" if gone else ""))
