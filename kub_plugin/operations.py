"""Cloudify operations: read ctx, call the plain steps, write results back. Nothing else lives here.

A Master node is one control-plane host (`ip`). A Minion node is one or more worker hosts (`ip` and/or
`ips`) sharing SSH settings; its hosts are worked on in parallel. Minions find their master through
kub.relationships.connected_to_master and take the cluster settings from it.
"""
import functools
import os
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from cloudify.constants import RELATIONSHIP_INSTANCE
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError, RecoverableError

from . import facts as host_facts
from . import osdata, steps
from .config import ConfigError, cluster_settings, distinct_hosts, ssh_settings
from .connection import ConnectionLost, Host, RemoteError

MASTER_RELATIONSHIP = "kub.relationships.connected_to_master"
MAX_PARALLEL_HOSTS = 16


def _cloudify_errors(func):
    """Turns kub's one-line errors into Cloudify task errors (the message is all the user needs)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ConfigError as err:
            raise NonRecoverableError(f"bad input: {err}") from None
        except ConnectionLost as err:
            raise RecoverableError(str(err)) from None
        except RemoteError as err:
            raise NonRecoverableError(str(err)) from None
    return wrapper


# -- reading the blueprint --------------------------------------------------------------------------

def _host_settings(props):
    """SSH settings of a node's hosts: a master's `ip`; a minion's `ip` and/or `ips` (may be none)."""
    ips = ([props["ip"]] if props.get("ip") else []) + list(props.get("ips") or [])
    return [ssh_settings(props, ip) for ip in ips]


class _Cluster:
    """What an operation needs to know about the cluster: the master's node and its settings."""

    def __init__(self, ctx, master_node):
        props = master_node.properties
        if not props.get("ip"):
            raise ConfigError(f"master node {master_node.id} has no ip: set its ip property")
        self.settings = cluster_settings(props)
        self.master_ssh = ssh_settings(props, props["ip"])
        # marks the hosts of this cluster (/var/lib/kub/owner), so kub never touches another's
        self.id = f"{ctx.deployment.id}/{master_node.id}"


def _cluster_of(ctx):
    """The cluster of the current node: itself for a master, the relationship's target for a minion."""
    if ctx.type == RELATIONSHIP_INSTANCE:
        return _Cluster(ctx, ctx.target.node)
    if _is_master(ctx):
        return _Cluster(ctx, ctx.node)
    for relationship in ctx.instance.relationships:
        if MASTER_RELATIONSHIP in relationship.type_hierarchy:
            return _Cluster(ctx, relationship.target.node)
    raise ConfigError(f"node {ctx.node.id} has no {MASTER_RELATIONSHIP} relationship: "
                      f"connect each minion node to its master with it")


def _is_master(ctx):
    return "kub.nodes.Master" in ctx.node.type_hierarchy


def _minion_ips_of_master(ctx):
    """Every minion IP of this master's cluster, so the master checks them before it changes anything.

    Only local mode lets an operation see the other nodes of its deployment (through its storage); elsewhere
    this is None and each minion node checks its own hosts at its create.
    """
    storage = getattr(getattr(ctx, "_endpoint", None), "storage", None)
    if storage is None or not hasattr(storage, "get_nodes"):
        return None
    ips = []
    for node in storage.get_nodes():
        for relationship in node.get("relationships", []):
            if relationship.get("target_id") == ctx.node.id and \
                    MASTER_RELATIONSHIP in relationship.get("type_hierarchy", []):
                props = node.get("properties", {})
                ips += [h.ip for h in _host_settings(props)]
    return ips


_repository_keys = {}


def repository_key(cluster):
    """The repository's signing key, fetched here: also proves the repository has this Kubernetes version."""
    url = cluster.repository_key_url
    if url not in _repository_keys:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                key = response.read().decode(errors="replace").strip()
        except urllib.error.HTTPError as err:
            raise ConfigError(f"Kubernetes {cluster.kubernetes_version} is not in the package repository "
                              f"({url} answered HTTP {err.code}): set kubernetes_version to a minor it has, "
                              f"or fix package_repository_url / package_repository_key_url") from None
        except (urllib.error.URLError, OSError) as err:
            raise ConfigError(f"cannot fetch the package repository key {url} ({getattr(err, 'reason', err)}): "
                              f"check package_repository_key_url and that this machine reaches it") from None
        if "BEGIN PGP PUBLIC KEY BLOCK" not in key:
            raise ConfigError(f"{url} is not an armored PGP public key: point package_repository_key_url at the "
                              f"repository's Release.key")
        _repository_keys[url] = key
    return _repository_keys[url]


# -- running on hosts -------------------------------------------------------------------------------

def _on_hosts(settings_list, logger, work):
    """Runs work(host) on every host in parallel, each over its own connection; all errors are reported."""
    def one(settings):
        with Host(settings, logger) as host:
            return work(host)

    if not settings_list:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_HOSTS, len(settings_list))) as pool:
        futures = [(s.ip, pool.submit(one, s)) for s in settings_list]
    results, errors = {}, []
    for ip, future in futures:
        try:
            results[ip] = future.result()
        except (RemoteError, ConfigError) as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        message = f"{len(errors)} of {len(settings_list)} hosts failed: " + " | ".join(map(str, errors))
        # worth a retry only when every failure was a lost connection
        raise (ConnectionLost if all(isinstance(e, ConnectionLost) for e in errors) else RemoteError)(message)
    return results


def _checked_profile(host, role, cluster):
    facts = host_facts.gather(host)
    profile = steps.preflight(host, facts, role, cluster.id)
    return facts, profile


# -- lifecycle ----------------------------------------------------------------------------------------

@operation(resumable=True)
@_cloudify_errors
def create(ctx, **_):
    """Connect, read facts, check every host and input; change nothing."""
    cluster = _cluster_of(ctx)
    hosts = _host_settings(ctx.node.properties)
    role = "master" if _is_master(ctx) else "minion"
    minion_ips = [h.ip for h in hosts] if role == "minion" else _minion_ips_of_master(ctx)
    if minion_ips is not None:
        distinct_hosts(cluster.master_ssh.ip, minion_ips)
    repository_key(cluster.settings)
    if role == "master":
        _cni_manifest(ctx, cluster.settings.cni_manifest)   # found and readable, before any host changes

    def check(host):
        facts, _ = _checked_profile(host, role, cluster)
        host.log(f"preflight: {facts.os_id} {facts.os_version} {facts.arch}, node name {facts.node_name}: ok")
        return facts.node_name

    names = _on_hosts(hosts, ctx.logger, check)
    _save(ctx, node_names=[names[h.ip] for h in hosts])


@operation(resumable=True)
@_cloudify_errors
def configure(ctx, **_):
    """Kernel settings, swap off, containerd and the Kubernetes packages on every host."""
    _configure(ctx, _cluster_of(ctx))


def _configure(ctx, cluster):
    key = repository_key(cluster.settings)
    role = "master" if _is_master(ctx) else "minion"

    def prepare(host):
        _, profile = _checked_profile(host, role, cluster)
        steps.prepare(host, profile, cluster.settings, key)

    _on_hosts(_host_settings(ctx.node.properties), ctx.logger, prepare)


@operation(resumable=True)
@_cloudify_errors
def start(ctx, **_):
    """Master: kubeadm init, CNI, kubeconfigs. Minion: wait until its nodes are Ready."""
    cluster = _cluster_of(ctx)
    if _is_master(ctx):
        _start_master(ctx, cluster)
    else:
        _wait_minions_ready(ctx, cluster)


def _wait_minions_ready(ctx, cluster):
    names = ctx.instance.runtime_properties.get("node_names", [])
    if names:
        with Host(cluster.master_ssh, ctx.logger) as master:
            steps.wait_ready(master, names, timeout=ctx.node.properties["ready_timeout"])


def _start_master(ctx, cluster):
    manifest = _cni_manifest(ctx, cluster.settings.cni_manifest)
    with Host(cluster.master_ssh, ctx.logger) as master:
        facts = host_facts.gather(master)
        steps.preflight(master, facts, "master", cluster.id)
        steps.init_master(master, facts, cluster.settings, cluster.id)
        steps.user_kubeconfig(master)
        steps.apply_cni(master, manifest)
        steps.wait_ready(master, [facts.node_name], timeout=ctx.node.properties["ready_timeout"])
        facts = host_facts.gather(master)
        kubeconfig_path = _save_kubeconfig(ctx, steps.read_admin_kubeconfig(master))
    _save(ctx, api_endpoint=f"https://{steps.host_port(master.ip)}", node_names=[facts.node_name],
          ca_cert_hash=facts.ca_cert_hash, kubeconfig_path=kubeconfig_path)


@operation(resumable=True)
@_cloudify_errors
def stop(ctx, **_):
    """Minion: drain its nodes and delete them from the cluster. Master: nothing (delete resets it)."""
    names = ctx.instance.runtime_properties.get("node_names", [])
    if _is_master(ctx) or not names:
        return
    cluster = _cluster_of(ctx)
    with Host(cluster.master_ssh, ctx.logger) as master:
        for name in names:
            steps.remove_node(master, name)


@operation(resumable=True)
@_cloudify_errors
def delete(ctx, **_):
    """kubeadm reset and cleanup on every host; with cluster.purge_packages also the packages."""
    cluster = _cluster_of(ctx)

    def reset(host):
        facts = host_facts.gather(host)
        if facts.owner and facts.owner != cluster.id:
            raise steps.StepError(f"{host.ip}: belongs to another deployment's cluster ({facts.owner}): "
                                  f"left as it is")
        profile = osdata.os_profile(facts) or {"containerd_package": "containerd"}
        steps.reset(host, cluster.settings, profile["containerd_package"], cluster.settings.purge_packages)

    _on_hosts(_host_settings(ctx.node.properties), ctx.logger, reset)
    path = ctx.instance.runtime_properties.get("kubeconfig_path")
    if path and os.path.exists(path):
        os.remove(path)
        ctx.logger.info(f"removed the local kubeconfig {path}")


@operation(resumable=True)
@_cloudify_errors
def join_master(ctx, **_):
    """Relationship minion -> master: join every minion host with a fresh token made on the master."""
    _join_minions(ctx.logger, _cluster_of(ctx), _host_settings(ctx.source.node.properties))


def _join_minions(logger, cluster, minions):
    with Host(cluster.master_ssh, logger) as master:
        master_facts = host_facts.gather(master)
        registered = steps.node_states(master)
        token, lock = {}, threading.Lock()

        def join_command():
            # one token for this run, made only when some host needs it, kept in memory only
            with lock:
                if "command" not in token:
                    token["command"] = steps.join_command(master)
                return token["command"]

        def join(host):
            facts, _ = _checked_profile(host, "minion", cluster)
            steps.join(host, facts, cluster.settings, cluster.id, master_facts.ca_cert_hash, join_command,
                       registered)

        _on_hosts(minions, logger, join)


@operation(resumable=True)
@_cloudify_errors
def check_status(ctx, **_):
    """Healthy when the node's Kubernetes nodes are Ready (what `heal` checks first)."""
    names = ctx.instance.runtime_properties.get("node_names", [])
    cluster = _cluster_of(ctx)
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
    cluster = _cluster_of(ctx)
    _configure(ctx, cluster)
    if _is_master(ctx):
        _start_master(ctx, cluster)
    else:
        _join_minions(ctx.logger, cluster, _host_settings(ctx.node.properties))
        _wait_minions_ready(ctx, cluster)


# -- helpers ------------------------------------------------------------------------------------------

def _save(ctx, **values):
    ctx.instance.runtime_properties.update(values)
    ctx.instance.update()


def _cni_manifest(ctx, source):
    if not source:
        raise ConfigError("cluster.cni_manifest is empty: give a CNI manifest path or URL "
                          "(e.g. flannel's kube-flannel.yml)")
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=60) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError) as err:
            raise ConfigError(f"cannot fetch the CNI manifest {source} ({getattr(err, 'reason', err)}): "
                              f"download it and give its local path in cluster.cni_manifest") from None
    path = os.path.expanduser(source)
    if os.path.isfile(path):
        with open(path) as f:
            return f.read()
    try:
        return ctx.get_resource(source).decode()
    except Exception:
        raise ConfigError(f"CNI manifest {source} not found (neither a file nor a blueprint resource): "
                          f"give an absolute path, a path relative to the blueprint, or a URL") from None


def _save_kubeconfig(ctx, text):
    """Writes the admin kubeconfig for the machine running cfy, mode 0600, only when it changed."""
    path = ctx.node.properties.get("local_kubeconfig_path") or \
        os.path.join("~", ".kube", f"kub-{ctx.deployment.id}.conf")
    path = os.path.abspath(os.path.expanduser(path))
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if os.path.exists(path):
        with open(path) as f:
            if f.read() == text:
                os.chmod(path, 0o600)
                return path
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    ctx.logger.info(f"admin kubeconfig written to {path} (mode 0600)")
    return path
