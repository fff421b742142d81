"""Cloudify operations: read ctx, call the plain steps, write results back.

A Master node is one control-plane host (`ip`). A Minion node is one or more worker hosts (`ip` and/or
`ips`) sharing SSH settings; its hosts are worked on in parallel. Minions find their master through
kub.relationships.connected_to_master, take the cluster settings from it, and wait only for the master's
`create` (which checks every host of the cluster): they are prepared while the master is, and their join
waits for the master's API.
"""
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from cloudify.constants import NODE_INSTANCE
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError, RecoverableError

from . import checks, deployment, local, osdata, steps
from . import facts as host_facts
from .config import ConfigError, check_hosts, drain_settings
from .connection import ConnectionLost, Host, RemoteError, Unreachable, on_hosts
from .kubeadm import host_port

# the master's operations its minions wait for (a failure of one of them ends their wait)
MASTER_STEPS = ("create", "configure", "start", "heal")


def _cloudify_errors(func):
    """Turns kub's one-line errors into Cloudify task errors (the message is all the user needs). Only a lost
    connection is worth a retry; anything unforeseen is final too, and reported in one line. A master's
    operation also records its failure (or clears an old one), so that waiting minions stop waiting."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ctx = kwargs.get("ctx")
        master = (func.__name__ in MASTER_STEPS and ctx is not None and ctx.type == NODE_INSTANCE
                  and deployment.is_master(ctx))
        if master and ctx.instance.runtime_properties.get(deployment.MASTER_FAILED):
            _save(ctx, **{deployment.MASTER_FAILED: ""})
        try:
            return func(*args, **kwargs)
        except Exception as err:
            error = _task_error(func.__name__, err)
            if master and (not isinstance(error, RecoverableError) or _last_try(ctx)):
                _save(ctx, **{deployment.MASTER_FAILED: f"{func.__name__}: {error}"})
            raise error from None
    return wrapper


def _last_try(ctx):
    """Whether Cloudify will not retry this operation after a recoverable error (max_retries -1: forever)."""
    retries = ctx.operation.max_retries
    return retries is not None and retries >= 0 and (ctx.operation.retry_number or 0) >= retries


def _task_error(operation_name, err):
    if isinstance(err, ConfigError):
        return NonRecoverableError(f"bad input: {err}")
    if isinstance(err, ConnectionLost):
        return RecoverableError(str(err))
    if isinstance(err, RemoteError):
        return NonRecoverableError(str(err))
    if isinstance(err, (NonRecoverableError, RecoverableError)):
        return err
    first = str(err).splitlines()[0][:200] if str(err) else ""
    return NonRecoverableError(f"kub failed unexpectedly in {operation_name} ({type(err).__name__}: {first}): "
                               f"please report it with the operation's log")


def _checked(host, role, cluster):
    """(facts, OS profile) of a host that passed every check."""
    facts = host_facts.gather(host)
    return facts, checks.host(host.ip, facts, role, cluster.id, cluster.settings)


def _registered(master_facts, master):
    """{node name: address} of the nodes in this master's cluster, when kub initialised it already."""
    if not master_facts.initialised:
        return {}
    return {name: address for name, (_, address) in steps.nodes(master).items()}


# -- lifecycle ----------------------------------------------------------------------------------------

@operation(resumable=True)
@_cloudify_errors
def create(ctx, **_):
    """Check every input and host; change nothing. A master checks every host of its cluster, the hosts of
    every minion node included, so a bad minion fails the install before the master is touched."""
    cluster = deployment.cluster_of(ctx)
    deployment.settings(ctx)
    own = deployment.hosts(ctx.node.properties, ctx.node.id)
    if deployment.is_master(ctx):
        _create_master(ctx, cluster, own[0])
    else:
        _master_checked(ctx, cluster)
        drain_settings(ctx.node.properties, ctx.node.id)
        check_hosts(cluster.master_ssh.ip, [h.ip for h in own], cluster.settings)
        found = on_hosts(own, ctx.logger, lambda host: _checked(host, "minion", cluster)[0])
        checks.unique_names(found)
        _save(ctx, node_names=[found[h.ip].node_name for h in own],
              node_hosts={found[h.ip].node_name: h.ip for h in own})


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


def _create_master(ctx, cluster, master_ssh):
    cluster.make_id()   # the first create's; recorded below, once every host passed its checks
    minions = [h for node_hosts in deployment.minion_hosts(ctx, ctx.node.id).values() for h in node_hosts]
    for node_id, props in deployment.minion_nodes(ctx, ctx.node.id).items():
        drain_settings(props, node_id)   # a bad one is refused now, not at uninstall
    check_hosts(master_ssh.ip, [h.ip for h in minions], cluster.settings)
    _kubeconfig_setting(ctx)
    local.repository_key(cluster.settings)
    sources = manifest_sources(ctx, cluster.settings.allow_plain_http)
    local.check_url_settings(cluster.settings, sources)
    local.cni_manifest(cluster.settings.cni_manifest, sources, ctx.node.id)   # read and parsed into objects
    for node_id, props in deployment.workload_nodes(ctx, ctx.node.id).items():
        local.workload(props, node_id, sources)   # the workloads' manifests and objects, checked
    roles = {master_ssh.ip: "master", **{h.ip: "minion" for h in minions}}

    def check(host):
        facts, _ = _checked(host, roles[host.ip], cluster)
        host.log(f"preflight: {facts.os_id} {facts.os_version} {facts.arch}, node name {facts.node_name}: ok")
        registered = _registered(facts, host) if roles[host.ip] == "master" else {}
        return facts, registered

    results = on_hosts([master_ssh] + minions, ctx.logger, check)
    found = {ip: facts for ip, (facts, _) in results.items()}
    master_facts, registered = results[master_ssh.ip]
    checks.unique_names(found, registered)
    for arch in {f.arch for f in found.values()}:
        _containerd_release(cluster, arch)   # downloaded and checked here before any host changes
    _save(ctx, node_names=[master_facts.node_name], **{deployment.CLUSTER_ID: cluster.id},
          package_versions=_package_versions(cluster, master_facts, {f.arch for f in found.values()}))


def _package_versions(cluster, master_facts, archs):
    """The same package versions for every host: a running cluster's own, else the repository's newest."""
    wanted = local.repository_versions(cluster.settings, [osdata.SUPPORTED_ARCH[a] for a in archs])
    if master_facts.recorded and set(wanted) <= set(master_facts.packages):
        return {package: master_facts.packages[package] for package in wanted}
    return wanted


def _containerd_release(cluster, arch):
    """containerd's release files for a host's architecture (`uname -m`), or None where the OS's is used."""
    if cluster.settings.containerd_source != "release":
        return None
    return local.containerd_release(cluster.settings, osdata.SUPPORTED_ARCH[arch])


@operation(resumable=True)
@_cloudify_errors
def configure(ctx, **_):
    """Kernel settings, swap off, containerd and the Kubernetes packages on every host."""
    _configure(ctx, deployment.cluster_of(ctx))


def _configure(ctx, cluster):
    key = local.repository_key(cluster.settings)
    role = deployment.role(ctx)
    versions = (ctx.instance.runtime_properties["package_versions"] if role == "master"
                else _master_checked(ctx, cluster))
    # from here on, delete has something to undo on these hosts
    _save(ctx, prepared=True)

    def prepare(host):
        facts, profile = _checked(host, role, cluster)
        steps.prepare(host, facts, profile, cluster.settings, (cluster.id, cluster.mark), key, versions,
                      _containerd_release(cluster, facts.arch))

    on_hosts(deployment.hosts(ctx.node.properties, ctx.node.id), ctx.logger, prepare)


@operation(resumable=True)
@_cloudify_errors
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
        with Host(cluster.master_ssh, ctx.logger) as master:
            steps.wait_ready(master, names, timeout=deployment.settings(ctx).ready_timeout)
        on_hosts(deployment.hosts(ctx.node.properties, ctx.node.id), ctx.logger, steps.record_cni)


def _start_master(ctx, cluster):
    manifest = local.cni_manifest(cluster.settings.cni_manifest,
                                  manifest_sources(ctx, cluster.settings.allow_plain_http), ctx.node.id)
    with Host(cluster.master_ssh, ctx.logger) as master:
        facts, _ = _checked(master, "master", cluster)
        steps.init_master(master, facts, cluster.settings, cluster.id)
        steps.user_kubeconfig(master)
        steps.apply_cni(master, manifest)
        steps.wait_ready(master, [facts.node_name], timeout=deployment.settings(ctx).ready_timeout)
        steps.record_cni(master)
        facts = host_facts.gather(master)
        kubeconfig_path = _save_kubeconfig(ctx, steps.read_admin_kubeconfig(master))
    _save(ctx, api_endpoint=f"https://{host_port(master.ip)}", node_names=[facts.node_name],
          ca_cert_hash=facts.ca_cert_hash, kubeconfig_path=kubeconfig_path)


@operation(resumable=True)
@_cloudify_errors
def join_master(ctx, **_):
    """Relationship minion -> master: once the master's API answers, join every minion host with a fresh
    token made on the master, removed again after the joins."""
    cluster = deployment.cluster_of(ctx)
    timeout = deployment.settings_of(ctx.source.node).master_timeout
    _join_minions(ctx.logger, cluster, deployment.hosts(ctx.source.node.properties, ctx.source.node.id), timeout,
                  lambda: deployment.master_failure(ctx))


def _join_minions(logger, cluster, minions, master_timeout, master_failure):
    """The minions are connected to and checked while the master is awaited; each joins once its API answers."""
    if not minions:
        return
    with Host(cluster.master_ssh, logger) as master, ThreadPoolExecutor(max_workers=1) as pool:
        master_up = threading.Event()   # set when the master's API answers, or when waiting for it failed
        targets, made, lock = [], [], threading.Lock()

        def token():
            # one token for this run, made only when some host needs it, kept in memory only
            with lock:
                if not made:
                    made.append(steps.join_token(master))
                return made[0]

        def join(host):
            facts, _ = _checked(host, "minion", cluster)
            master_up.wait()
            if not targets:
                return   # the master failed: nothing to join (its error is raised)
            target = targets[0]
            checks.unique_names({host.ip: facts}, {name: address for name, (_, address) in target.registered.items()})
            steps.join(host, facts, cluster.settings, target, token)

        joins = pool.submit(on_hosts, minions, logger, join)
        try:
            master_facts = steps.wait_master(master, host_facts.gather, cluster.id, master_timeout, master_failure)
            targets.append(steps.JoinTarget(master.ip, master_facts.ca_cert_hash, steps.nodes(master)))
        finally:
            master_up.set()
            try:
                joins.result()
            finally:
                if made:
                    steps.delete_token(master, made[0])


@operation(resumable=True)
@_cloudify_errors
def stop(ctx, **_):
    """Minion: drain its nodes and delete them from the cluster, only in this deployment's cluster and only
    nodes registered at this node's addresses. Master: nothing (delete resets it). A master that cannot be reached
    is told in one line, and the minions' hosts are reset all the same (their delete)."""
    addresses = ctx.instance.runtime_properties.get("node_hosts", {})
    if deployment.is_master(ctx) or not addresses:
        return
    cluster = deployment.cluster_of(ctx)
    drain = drain_settings(ctx.node.properties, ctx.node.id)
    master = Host(cluster.master_ssh, ctx.logger)
    try:
        master.open()
    except Unreachable as err:
        ctx.logger.warning(f"[{err.ip}] the master {cluster.master_id} cannot be reached ({err.reason}): nodes "
                           f"{', '.join(sorted(addresses))} were not drained and stay registered until the master is "
                           f"reset; their own hosts are reset all the same")
        return
    with master:
        steps.remove_nodes(master, cluster.id, addresses, drain)


@operation(resumable=True)
@_cloudify_errors
def delete(ctx, **_):
    """kubeadm reset and cleanup on every host of this cluster; with cluster.purge_packages also the packages.
    Hosts this cluster does not own are left as they are. The master first drains what its minions' stops have not
    (a drain that fails leaves it as it is). A host that cannot be reached fails the operation, naming it, once
    every other host is reset: uninstall again when it answers (the rest is done by then)."""
    if not ctx.instance.runtime_properties.get("prepared"):
        ctx.logger.info("nothing to undo: this deployment never changed these hosts")
        return
    cluster = deployment.cluster_of(ctx)

    def reset(host):
        facts = host_facts.gather(host)
        if facts.owner_id != cluster.id:
            ctx.logger.warning(f"[{host.ip}] not a host of this deployment's cluster (owner: "
                               f"{facts.owner_name or 'none'}): left as it is")
            return
        if deployment.is_master(ctx) and facts.has_admin_conf:
            _drain_minions(ctx, cluster, host)
        profile = osdata.os_profile(facts) or osdata.FALLBACK_PROFILE
        steps.reset(host, cluster.settings, profile, cluster.settings.purge_packages)

    def unreachable(err):
        raise RemoteError(f"{err.ip}: not reset, the host cannot be reached ({err.reason}): kub's cluster state "
                          f"stays on it; run uninstall again once it answers (what is done already is not done "
                          f"again), or, if it is gone for good, with -p '{{\"ignore_failure\": true}}'")

    on_hosts(deployment.hosts(ctx.node.properties, ctx.node.id), ctx.logger, reset, unreachable)
    path = ctx.instance.runtime_properties.get("kubeconfig_path")
    done = local.remove_kubeconfig(path, ctx.instance.runtime_properties.get("kubeconfig_sha256")) if path else ""
    if done.startswith("removed"):
        ctx.logger.info(done)
    elif done:
        ctx.logger.warning(done)


def _drain_minions(ctx, cluster, master):
    """Before the master is reset: what its minion nodes' stops have not drained yet (Cloudify runs the master's
    delete beside them), drained and deleted as they would, so that a drain they could not finish leaves the
    cluster running rather than reset under its pods."""
    minions = deployment.minion_nodes(ctx, cluster.master_id)
    try:
        registered = steps.nodes(master) if minions else {}
    except steps.StepError:
        return   # the API does not answer: nothing can be drained (the minions' stops said so)
    for node_id, props in minions.items():
        ips = {host.ip for host in deployment.hosts(props, node_id)}
        left = {name: address for name, (_, address) in registered.items() if address in ips}
        if left:
            steps.remove_nodes(master, cluster.id, left, drain_settings(props, node_id))


@operation(resumable=True)
@_cloudify_errors
def check_status(ctx, **_):
    """Healthy when the node's Kubernetes nodes are Ready (what `heal` checks first)."""
    names = ctx.instance.runtime_properties.get("node_names", [])
    cluster = deployment.cluster_of(ctx)
    with Host(cluster.master_ssh, ctx.logger) as master:
        states = steps.node_states(master)
    unwell = [f"{name} ({states.get(name, 'not registered')})" for name in names if states.get(name) != "True"]
    if unwell:
        raise NonRecoverableError(f"not Ready: {', '.join(unwell)}")
    ctx.logger.info(f"Ready: {', '.join(names)}")


@operation(resumable=True)
@_cloudify_errors
def heal(ctx, **_):
    """Converges the node's hosts in place: configure, (re)join what is missing, wait until Ready.
    Hosts that are fine see no change; nothing is reset that need not be."""
    cluster = deployment.cluster_of(ctx)
    _configure(ctx, cluster)
    if deployment.is_master(ctx):
        _start_master(ctx, cluster)
    else:
        _join_minions(ctx.logger, cluster, deployment.hosts(ctx.node.properties, ctx.node.id),
                      deployment.settings(ctx).master_timeout, lambda: deployment.master_failure(ctx))
        _wait_minions_ready(ctx, cluster)


# -- helpers ------------------------------------------------------------------------------------------

def _save(ctx, **values):
    ctx.instance.runtime_properties.update(values)
    ctx.instance.update()


def manifest_sources(ctx, allow_plain_http):
    """Where this operation may read manifests from: absolute paths only in local mode (see local.Sources)."""
    return local.Sources(ctx.get_resource, deployment.is_local(deployment.operation_storage(ctx)), allow_plain_http)


def _kubeconfig_setting(ctx):
    """local_kubeconfig_path: a path here, given only in local mode (on a manager it would name a file of the
    worker; there kub writes its default file)."""
    path = ctx.node.properties.get("local_kubeconfig_path") or ""
    if not isinstance(path, str) or path.endswith("/"):
        raise ConfigError(f"local_kubeconfig_path {path!r} is not a file path: give a file's path, e.g. "
                          f"~/.kube/kub-{ctx.deployment.id}.conf, or leave it empty")
    if path and not deployment.is_local(deployment.operation_storage(ctx)):
        raise ConfigError(f"local_kubeconfig_path {path} names a file of the Cloudify Manager's worker: leave it "
                          f"empty there (kub writes ~/.kube/kub-{ctx.deployment.id}.conf), or use the SSH user's "
                          f"~/.kube/config on the master")
    return path


def _save_kubeconfig(ctx, text):
    """Writes the admin kubeconfig for the machine running cfy, mode 0600, only when it changed, and never over a
    file kub did not write (beside it then). What it writes is recorded (its sha256) before it is written."""
    wanted = _kubeconfig_setting(ctx) or local.default_kubeconfig_path(ctx.deployment.id)
    wanted = os.path.abspath(os.path.expanduser(wanted))
    props = ctx.instance.runtime_properties
    recorded = {props["kubeconfig_path"]: props.get("kubeconfig_sha256")} if props.get("kubeconfig_path") else {}
    path, found = local.kubeconfig_place(wanted, text, recorded, ctx.deployment.id)
    if found:
        ctx.logger.warning(f"local_kubeconfig_path {found} is a file kub did not write: left as it is; the admin "
                           f"kubeconfig goes beside it, to {path}")
    sha256 = local.kubeconfig_sha256(text)
    if recorded != {path: sha256}:
        _save(ctx, kubeconfig_path=path, kubeconfig_sha256=sha256)
    if local.write_kubeconfig(path, text):
        ctx.logger.info(f"admin kubeconfig written to {path} (mode 0600)")
    return path
