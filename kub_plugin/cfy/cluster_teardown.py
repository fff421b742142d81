"""Uninstall of kub.nodes.Master and kub.nodes.Minion: a minion's stop drains and deletes its nodes, every delete
resets its hosts (only those this cluster owns); a master first drains what its minions' stops have not."""
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError

from ..cluster import nodes, reset
from ..cluster.drain import remove_nodes
from ..cluster.properties import drain_settings
from ..errors import RemoteError, Unreachable
from ..hosts import facts as host_facts
from ..hosts.parallel import on_hosts
from ..hosts.runner import StepError
from ..local import kubeconfig
from . import deployment
from .errors import cloudify_errors


@operation(resumable=True)
@cloudify_errors
def stop(ctx, **_):
    """Minion: drain its nodes and delete them from the cluster, only in this deployment's cluster and only
    nodes registered at this node's addresses. Master: nothing (delete resets it). A master that cannot be reached
    is told in one line, and the minions' hosts are reset all the same (their delete)."""
    addresses = ctx.instance.runtime_properties.get("node_hosts", {})
    if deployment.is_master(ctx) or not addresses:
        return
    cluster = deployment.cluster_of(ctx)
    drain = drain_settings(ctx.node.properties, ctx.node.id)
    try:
        master = cluster.open_master(ctx.logger)
    except Unreachable as err:
        ctx.logger.warning(f"[{err.ip}] the master {cluster.master_id} cannot be reached ({err.reason}): nodes "
                           f"{', '.join(sorted(addresses))} were not drained and stay registered until the master is "
                           f"reset; their own hosts are reset all the same")
        return
    with master:
        remove_nodes(master, cluster.id, addresses, drain)


@operation(resumable=True)
@cloudify_errors
def delete(ctx, **_):
    """kubeadm reset and cleanup on every host of this cluster; with cluster.purge_packages also the packages.
    Hosts this cluster does not own are left as they are. The master first drains what its minions' stops have not
    (a drain that fails leaves it as it is). A host that cannot be reached fails the operation, naming it, once
    every other host is reset: uninstall again when it answers (the rest is done by then)."""
    if not ctx.instance.runtime_properties.get("prepared"):
        ctx.logger.info("nothing to undo: this deployment never changed these hosts")
        return
    if deployment.is_master(ctx) and getattr(ctx, "workflow_id", "") == "heal":
        # Cloudify's heal reinstalls a node whose heal operation failed: for the master that would reset every
        # master, the cluster's etcd with them
        raise NonRecoverableError("heal does not reinstall the master: a reset would take the cluster's control plane "
                                  "and its etcd down; the cluster is left as it is: see why the master's heal "
                                  "operation failed (above), fix that, and heal again")
    cluster = deployment.cluster_of(ctx)

    def reset_host(host):
        facts = host_facts.gather(host)
        if facts.owner_id != cluster.id:
            ctx.logger.warning(f"[{host.ip}] not a host of this deployment's cluster (owner: "
                               f"{facts.owner_name or 'none'}): left as it is")
            return
        reset.reset(host, cluster.settings, cluster.settings.purge_packages)

    def unreachable(err):
        raise RemoteError(f"{err.ip}: not reset, the host cannot be reached ({err.reason}): kub's cluster state "
                          f"stays on it; run uninstall again once it answers (what is done already is not done "
                          f"again), or, if it is gone for good, with -p '{{\"ignore_failure\": true}}'")

    if deployment.is_master(ctx):   # while every master still runs (etcd keeps quorum until they are reset)
        _drain_minions(ctx, cluster)
    on_hosts(deployment.own_hosts(ctx), ctx.logger, reset_host, unreachable)
    path = ctx.instance.runtime_properties.get("kubeconfig_path")
    done = kubeconfig.remove(path, ctx.instance.runtime_properties.get("kubeconfig_sha256")) if path else ""
    if done.startswith("removed"):
        ctx.logger.info(done)
    elif done:
        ctx.logger.warning(done)


def _drain_minions(ctx, cluster):
    """Before the masters are reset: what its minion nodes' stops have not drained yet (Cloudify runs the master's
    delete beside them), drained and deleted as they would, so that a drain they could not finish leaves the
    cluster running rather than reset under its pods. Nothing when no master of this cluster answers."""
    minions = deployment.minion_nodes(ctx, cluster.master_id)
    if not minions:
        return
    try:
        master = cluster.open_master(ctx.logger)
    except Unreachable:
        return   # the masters' reset names each one it cannot reach
    with master:
        facts = host_facts.gather(master)
        if facts.owner_id == cluster.id and facts.has_admin_conf:
            _drain_left(ctx, cluster, master, minions)


def _drain_left(ctx, cluster, master, minions):
    try:
        registered = nodes.nodes(master)
    except StepError:
        return   # the API does not answer: nothing can be drained (the minions' stops said so)
    held = deployment.minion_hosts(ctx, cluster.master_id)
    for node_id, props in minions.items():
        ips = {host.ip for host in held[node_id]}
        left = {name: address for name, (_, address) in registered.items() if address in ips}
        if left:
            remove_nodes(master, cluster.id, left, drain_settings(props, node_id))
