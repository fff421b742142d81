"""Cloudify operations of kub.nodes.Master and kub.nodes.Minion: read ctx, call the plain steps, write results back.

A Master node is one control-plane host (`ip`). A Minion node is one or more worker hosts (`ip` and/or
`ips`) sharing SSH settings; its hosts are worked on in parallel. Minions find their master through
kub.relationships.connected_to_master, take the cluster settings from it, and wait only for the master's
`create` (which checks every host of the cluster): they are prepared while the master is, and their join
waits for the master's API. Their stop and delete (uninstall) are in cluster_teardown.py.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError

from ..cluster import api_balancer, checks, init, join, masters, nodes, preflight, prepare
from ..cluster.control_plane import master_packages
from ..cluster.install_plan import install_plan
from ..cluster.properties import check_hosts, drain_settings, host_addresses
from ..errors import RemoteError
from ..hosts import facts as host_facts
from ..hosts.parallel import on_hosts
from ..hosts.ssh import Host
from ..local import manifests
from ..local.artifacts import Artifacts
from . import deployment
from .errors import cloudify_errors, save
from .machine import kubeconfig_setting, manifest_sources, save_kubeconfig


def _checked(host, role, cluster):
    return preflight.checked(host, role, cluster.id, cluster.settings)


@operation(resumable=True)
@cloudify_errors
def create(ctx, **_):
    """Check every input and host; change nothing. A master checks every host of its cluster, the hosts of
    every minion node included, so a bad minion fails the install before the master is touched."""
    cluster = deployment.cluster_of(ctx)
    deployment.settings(ctx)
    own = deployment.own_hosts(ctx)
    if deployment.is_master(ctx):
        _create_master(ctx, cluster)
    else:
        _master_checked(ctx, cluster)
        drain_settings(ctx.node.properties, ctx.node.id)
        check_hosts([h.ip for h in cluster.master_hosts], [h.ip for h in own], cluster.settings)
        found = on_hosts(own, ctx.logger, lambda host: _checked(host, "minion", cluster)[0])
        checks.unique_names(found)
        removed = set(ctx.instance.runtime_properties.get(deployment.REMOVED_HOSTS) or [])
        for ip in (ip for ip in host_addresses(ctx.node.properties, ctx.node.id) if ip in removed):
            ctx.logger.warning(f"[{ip}] was removed from the cluster with kub_remove_minions: left out (drop it from "
                               f"the node's ips, or add it again with kub_add_minions)")
        save(ctx, node_names=[found[h.ip].node_name for h in own],
             node_hosts={found[h.ip].node_name: h.ip for h in own}, **{deployment.HOSTS: [h.ip for h in own]})


def _master_checked(ctx, cluster):
    """A minion starts only once its master's create checked the whole cluster: Cloudify may go on to a minion
    whose master's create failed, and then nothing may change anywhere. Returns the cluster's package versions."""
    master = deployment.master_runtime_properties(ctx)
    failed = deployment.master_failure(ctx)
    if failed or not master.get("package_versions"):
        raise RemoteError(f"{cluster.master_ssh.ip}: the master {cluster.master_id} did not pass its checks "
                          f"({failed or 'not created yet'}): nothing is done on its minions until it does; fix that, "
                          f"then run install again")
    return master["package_versions"]


def _create_master(ctx, cluster):
    cluster.make_id()   # the first create's; recorded below, once every host passed its checks
    masters = cluster.master_hosts
    minions = [h for node_hosts in deployment.minion_hosts(ctx, ctx.node.id).values() for h in node_hosts]
    for node_id, props in deployment.minion_nodes(ctx, ctx.node.id).items():
        drain_settings(props, node_id)   # a bad one is refused now, not at uninstall
    check_hosts([h.ip for h in masters], [h.ip for h in minions], cluster.settings)
    kubeconfig_setting(ctx)
    Artifacts(cluster.settings).repository_key()
    sources = manifest_sources(ctx, cluster.settings.allow_plain_http)
    manifests.check_url_settings(cluster.settings, sources)
    manifests.cni_manifest(cluster.settings.cni_manifest, sources, ctx.node.id)   # read and parsed into objects
    for node_id, props in deployment.workload_nodes(ctx, ctx.node.id).items():
        manifests.workload(props, node_id, sources)   # the workloads' manifests and objects, checked
    roles = {**{h.ip: "master" for h in masters}, **{h.ip: "minion" for h in minions}}

    def check(host):
        facts, _ = _checked(host, roles[host.ip], cluster)
        host.log(f"preflight: {facts.os_id} {facts.os_version} {facts.arch}, node name {facts.node_name}: ok")
        registered = preflight.registered(facts, host) if roles[host.ip] == "master" else {}
        return facts, registered

    results = on_hosts(masters + minions, ctx.logger, check)
    found = {ip: facts for ip, (facts, _) in results.items()}
    # the cluster as a master kub initialised sees it (the first, unless only another one runs it now)
    source = next((h.ip for h in masters if found[h.ip].initialised), masters[0].ip)
    master_facts, registered = results[source]
    checks.unique_names(found, registered)
    checks.all_held(source, registered, [h.ip for h in masters + minions])
    if cluster.endpoint is not None:
        with Host(masters[0], ctx.logger) as first:
            preflight.endpoint_ready(first, cluster.endpoint, [found[h.ip] for h in masters])
    archs = {f.arch for f in found.values()}
    artifacts = Artifacts(cluster.settings)
    for arch in archs:
        artifacts.containerd_release(arch)   # downloaded and checked here before any host changes
    save(ctx, node_names=[master_facts.node_name], **{deployment.CLUSTER_ID: cluster.id},
         package_versions=artifacts.package_versions(master_facts, archs))


@operation(resumable=True)
@cloudify_errors
def configure(ctx, **_):
    """Kernel settings, swap off, containerd and the Kubernetes packages on every host."""
    _configure(ctx, deployment.cluster_of(ctx))


def _configure(ctx, cluster):
    artifacts = Artifacts(cluster.settings)
    key = artifacts.repository_key()
    role = deployment.role(ctx)
    versions = (ctx.instance.runtime_properties["package_versions"] if role == "master"
                else _master_checked(ctx, cluster))
    # from here on, delete has something to undo on these hosts
    save(ctx, prepared=True)

    balanced = role == "master" and cluster.endpoint is not None and cluster.endpoint.virtual_ip
    extra = master_packages(cluster.endpoint, len(cluster.master_hosts)) if role == "master" else ()

    def prepare_host(host):
        facts, profile = _checked(host, role, cluster)
        prepare.prepare(host, facts, profile, cluster.settings, (cluster.id, cluster.mark), key, versions,
                        artifacts.containerd_release(facts.arch), extra)
        if balanced:
            api_balancer.set_up(host, cluster.endpoint, [h.ip for h in cluster.master_hosts], facts, cluster.id)

    on_hosts(deployment.own_hosts(ctx), ctx.logger, prepare_host)


@operation(resumable=True)
@cloudify_errors
def start(ctx, **_):
    """Master: kubeadm init, CNI, kubeconfigs. Minion: wait until its nodes are Ready."""
    cluster = deployment.cluster_of(ctx)
    if deployment.is_master(ctx):
        _start_master(ctx, cluster)
    else:
        _wait_minions_ready(ctx, cluster)


def _wait_minions_ready(ctx, cluster):
    names = ctx.instance.runtime_properties.get("node_names", [])
    if names:
        with cluster.open_master(ctx.logger) as master:
            nodes.wait_ready(master, names, timeout=deployment.settings(ctx).ready_timeout)
        on_hosts(deployment.own_hosts(ctx), ctx.logger, init.record_cni)


def _start_master(ctx, cluster):
    """kubeadm init on the first master (unless a master of the cluster runs it already: a master healed after its
    host was lost joins the others instead), the CNI, then the other masters join the control plane one by one."""
    manifest = manifests.cni_manifest(cluster.settings.cni_manifest,
                                      manifest_sources(ctx, cluster.settings.allow_plain_http), ctx.node.id)
    with ExitStack() as opened:
        hosts = [opened.enter_context(Host(ssh, ctx.logger)) for ssh in cluster.master_hosts]
        found = {host.ip: _checked(host, "master", cluster)[0] for host in hosts}
        source = next((host for host in hosts if found[host.ip].initialised), hosts[0])
        init.init_master(source, found[source.ip], cluster.settings, cluster.id, cluster.api_address)
        init.user_kubeconfig(source)
        init.apply_cni(source, manifest)
        source_facts = host_facts.gather(source)
        target = join.JoinTarget(cluster.api_address, source_facts.ca_cert_hash, nodes.nodes(source))
        for host in masters.join_masters(source, [h for h in hosts if h is not source], found, cluster.settings,
                                         target):
            init.user_kubeconfig(host)
        names = [found[host.ip].node_name for host in hosts]
        nodes.wait_ready(source, names, timeout=deployment.settings(ctx).ready_timeout)
        for host in hosts:
            init.record_cni(host)
        kubeconfig_path = save_kubeconfig(ctx, init.read_admin_kubeconfig(source))
    save(ctx, api_endpoint=f"https://{cluster.api_address}", node_names=names,
         ca_cert_hash=source_facts.ca_cert_hash, kubeconfig_path=kubeconfig_path)


@operation(resumable=True)
@cloudify_errors
def join_master(ctx, **_):
    """Relationship minion -> master: once the master's API answers, join every minion host with a fresh
    token made on the master, removed again after the joins."""
    cluster = deployment.cluster_of(ctx)
    timeout = deployment.settings_of(ctx.source.node).master_timeout
    _join_minions(ctx.logger, cluster, deployment.own_hosts(ctx), timeout,
                  lambda: deployment.master_failure(ctx))


def _join_minions(logger, cluster, minions, master_timeout, master_failure):
    """The minions are connected to and checked while the master is awaited; each joins once its API answers."""
    if not minions:
        return
    with cluster.open_master(logger) as master, ThreadPoolExecutor(max_workers=1) as pool:
        master_up = threading.Event()   # set when the master's API answers, or when waiting for it failed
        targets, made, lock = [], [], threading.Lock()

        def token():
            # one token for this run, made only when some host needs it, kept in memory only
            with lock:
                if not made:
                    made.append(join.join_token(master))
                return made[0]

        def join_host(host):
            facts, _ = _checked(host, "minion", cluster)
            master_up.wait()
            if not targets:
                return   # the master failed: nothing to join (its error is raised)
            target = targets[0]
            checks.unique_names({host.ip: facts}, {name: address for name, (_, address) in target.registered.items()})
            join.join(host, facts, cluster.settings, target, token)

        joins = pool.submit(on_hosts, minions, logger, join_host)
        try:
            master_facts = join.wait_master(master, host_facts.gather, cluster.id, master_timeout, master_failure)
            targets.append(join.JoinTarget(cluster.api_address, master_facts.ca_cert_hash, nodes.nodes(master)))
        finally:
            master_up.set()
            try:
                joins.result()
            finally:
                if made:
                    join.delete_token(master, made[0])


@operation(resumable=True)
@cloudify_errors
def check_status(ctx, **_):
    """Healthy when the node's Kubernetes nodes are Ready and its hosts have not drifted from what the install set
    up (what `heal` checks first, and sets back)."""
    names = ctx.instance.runtime_properties.get("node_names", [])
    cluster = deployment.cluster_of(ctx)
    with cluster.open_master(ctx.logger) as master:
        registered = nodes.nodes(master)
    states = {name: ready for name, (ready, _) in registered.items()}
    unwell = [f"{name} ({states.get(name, 'not registered')})" for name in names if states.get(name) != "True"]
    if unwell:
        raise NonRecoverableError(f"not Ready: {', '.join(unwell)}")
    ctx.logger.info(f"Ready: {', '.join(names)}")
    if deployment.is_master(ctx):   # a node no record holds (a host dropped from the blueprint, one forced out)
        held = [*(h.ip for h in cluster.master_hosts),
                *(h.ip for hosts in deployment.minion_hosts(ctx, ctx.node.id).values() for h in hosts)]
        checks.all_held(cluster.master_ssh.ip, {name: address for name, (_, address) in registered.items()}, held)
    drift = _drift(ctx, cluster)
    if not drift.empty:
        raise NonRecoverableError(f"drifted from what install set up (heal sets it back): {'; '.join(drift.lines())}")


@operation(resumable=True)
@cloudify_errors
def check_drift(ctx, **_):
    """What differs on the node's hosts from what the install set up: the changes an install (or heal) would make
    there now, as `kub_plan` tells them: {address: [changes]}, or None when nothing drifted."""
    drift = _drift(ctx, deployment.cluster_of(ctx))
    drift.report(ctx.logger, f"the drift of {ctx.node.id}")
    return None if drift.empty else {ip: drift.changes(ip) for ip in drift.hosts if drift.changes(ip)}


def _drift(ctx, cluster):
    """The plan of installing this node's hosts (the master, or the node's minions): their drift."""
    if deployment.is_master(ctx):
        manifest = manifests.cni_manifest(cluster.settings.cni_manifest,
                                          manifest_sources(ctx, cluster.settings.allow_plain_http), ctx.node.id)
        return install_plan(cluster, [], manifest, Artifacts(cluster.settings), ctx.logger)
    own = deployment.own_hosts(ctx)
    return install_plan(cluster, own, "", Artifacts(cluster.settings), ctx.logger, planned=[h.ip for h in own])


@operation(resumable=True)
@cloudify_errors
def heal(ctx, **_):
    """Converges the node's hosts in place: configure, (re)join what is missing, wait until Ready.
    Hosts that are fine see no change; nothing is reset that need not be."""
    cluster = deployment.cluster_of(ctx)
    _configure(ctx, cluster)
    if deployment.is_master(ctx):
        _start_master(ctx, cluster)
    else:
        _join_minions(ctx.logger, cluster, deployment.own_hosts(ctx),
                      deployment.settings(ctx).master_timeout, lambda: deployment.master_failure(ctx))
        _wait_minions_ready(ctx, cluster)
