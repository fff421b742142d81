"""Minions join and leave a live cluster (kub_add_minions, kub_remove_minions).

Adding touches only the new hosts: they are checked before any change, prepared at the cluster's own package
versions, joined with one token made for them and removed afterwards; on the master only the token and node
commands run. Removing drains and deletes the nodes (PodDisruptionBudgets honoured, within drain_timeout), then
resets each host that carries this cluster's mark. Both can first run as a plan (hosts.plan), which changes
nothing.
"""
import json
import threading
from dataclasses import dataclass

from ..errors import ConfigError, RemoteError, Unreachable
from ..hosts import facts as host_facts
from ..hosts.commands import Command
from ..hosts.parallel import on_hosts
from ..hosts.runner import StepError
from . import checks, init, join, preflight, prepare, reset
from .drain import remove_nodes
from .nodes import KUBECTL, wait_ready

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def registered_nodes(cluster, logger):
    """{node name: address} of the cluster's nodes, read on its master."""
    with cluster.open_master(logger) as master:
        return _registered(master, cluster)[1]


def _registered(master, cluster):
    """The cluster's registered nodes {name: address}, from a master this cluster initialised."""
    facts = host_facts.gather(master)
    if facts.owner_id != cluster.id or not facts.initialised:
        raise StepError(f"{master.ip}: the master is not this deployment's initialised cluster (owner: "
                        f"{facts.owner_name or 'none'}): install the deployment first")
    return facts, preflight.registered(facts, master)


def add_minions(cluster, new_hosts, held, artifacts, logger, ready_timeout, plan=None, checked=lambda: None):
    """Joins new hosts (SshSettings) as minions of the cluster; `held`: the addresses other nodes of the deployment
    hold. checked() runs once every check passed, before any change (the caller records the hosts then, so that a
    run cut short is finished by the next, or undone by uninstall). With a plan, tells what it would change on
    them instead. Returns {address: node name}."""
    settings = cluster.settings
    for host in new_hosts:
        if host.ip in {master.ip for master in cluster.master_hosts}:
            raise ConfigError(f"{host.ip}: is a master of the cluster: give the addresses of new minion hosts")
        if host.ip in held:
            raise ConfigError(f"{host.ip}: is already a host of this cluster: give the addresses of new hosts only")
    with cluster.open_master(logger) as master:
        master_facts, registered = _registered(master, cluster)
        taken = {address: name for name, address in registered.items()}
        for host in new_hosts:
            if host.ip in taken:
                raise ConfigError(f"{host.ip}: is already node {taken[host.ip]} of this cluster: give the addresses "
                                  f"of new hosts only")
        found = on_hosts(new_hosts, logger, lambda host: preflight.checked(host, "minion", cluster.id, settings),
                         plan=plan)
        checks.unique_names({ip: facts for ip, (facts, _) in found.items()}, registered)
        archs = {facts.arch for facts, _ in found.values()}
        versions = artifacts.package_versions(master_facts, archs)
        key = artifacts.repository_key()
        target = join.JoinTarget(cluster.api_address, master_facts.ca_cert_hash, registered)
        made, lock = [], threading.Lock()

        def token():   # one for all of them (hosts join at once), made only when one needs it; never logged
            with lock:
                if not made:
                    made.append(join.join_token(master))
                return made[0]

        def bring(host):
            facts, profile = found[host.ip]
            prepare.prepare(host, facts, profile, settings, (cluster.id, cluster.mark), key, versions,
                            artifacts.containerd_release(facts.arch))
            join.join(host, facts, settings, target, token)
            return facts.node_name

        if plan is None:
            checked()
        try:
            names = on_hosts(new_hosts, logger, bring, plan=plan)
        finally:
            if made:
                join.delete_token(master, made[0])
        if plan is None:
            wait_ready(master, sorted(names.values()), timeout=ready_timeout)
    if plan is None:
        on_hosts(new_hosts, logger, init.record_cni)
    return names


@dataclass(frozen=True)
class Leaving:
    """A host to remove: its SSH settings and the node it is ('' when the cluster has no node at its address)."""
    ssh: object
    node_name: str


def workers(master):
    """The names of the nodes that take pods: those not of the control plane."""
    result = master.run(Command(KUBECTL, "get", "nodes", "-o", "json"), sudo=True, timeout=60)
    if not result.ok:
        raise StepError(f"{master.ip}: the API server does not answer (kubectl get nodes)")
    return {item["metadata"]["name"] for item in json.loads(result.stdout).get("items", [])
            if CONTROL_PLANE_LABEL not in (item["metadata"].get("labels") or {})}


def remove_minions(cluster, leaving, drain, force, logger, plan=None):
    """Drains and deletes the nodes of the leaving hosts ([Leaving]), then resets each host that carries this
    cluster's mark. A host that cannot be reached is refused (nothing done), unless `force`: its node is deleted
    all the same and it is told that the host was not cleaned. With a plan, tells what it would change instead.
    Returns the addresses that could not be cleaned."""
    with cluster.open_master(logger, plan) as master:
        _, registered = _registered(master, cluster)
        remaining = workers(master) - {item.node_name for item in leaving}
        if not remaining:
            raise ConfigError(f"{master.ip}: removing {', '.join(item.ssh.ip for item in leaving)} would leave the "
                              f"cluster no node that takes pods: add a minion first (kub_add_minions)")
        reached = on_hosts([item.ssh for item in leaving], logger, host_facts.gather, unreachable=lambda err: err,
                           plan=plan)
        gone = [ip for ip, found in reached.items() if isinstance(found, Unreachable)]
        if gone and not force:
            raise RemoteError(f"{', '.join(gone)}: cannot be reached ({reached[gone[0]].reason}): nothing was "
                              f"removed; if the host is gone for good, run again with -p '{{\"force\": true}}' "
                              f"(its node is deleted and forgotten; wipe the host before it boots again)")
        nodes = {item.node_name: item.ssh.ip for item in leaving if item.node_name in registered}
        if nodes:
            remove_nodes(master, cluster.id, nodes, drain)

    def clean(host):
        facts = reached[host.ip]
        if facts.owner_id != cluster.id:
            host.log(f"not a host of this cluster (owner: {facts.owner_name or 'none'}): left as it is")
            return
        reset.reset(host, cluster.settings, cluster.settings.purge_packages)

    on_hosts([item.ssh for item in leaving if item.ssh.ip not in gone], logger, clean, plan=plan)
    for ip in gone if plan is None else ():
        logger.warning(f"[{ip}] not cleaned: the host cannot be reached; it still holds this cluster's kubelet "
                       f"credentials and registers its node again when it boots: wipe it first (kubeadm reset -f), "
                       f"or remove it again once it answers")
    return gone
