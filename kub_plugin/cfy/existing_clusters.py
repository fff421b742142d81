"""Cloudify operations of kub.nodes.ExistingCluster: a cluster kub did not install, reached over SSH on one of its
control-plane hosts, where kubectl works with a kubeconfig (`kubeconfig_path`), or from the machine running cfy with
the cluster's kubeconfig alone (`kubeconfig` or `kubeconfig_file`; local.host).

kub never installs, changes or resets anything of it: its operations only read the cluster (host key verified,
API answering through that kubeconfig, version, nodes) and record what they found. Workloads deployed_on it
are applied there like on a master kub installed.
"""
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError

from ..cluster.existing import check_kubeconfig_path, cluster_view
from ..local import manifests
from . import control_planes, deployment
from .errors import cloudify_errors, save
from .machine import manifest_sources


def _control_plane(ctx):
    return control_planes.control_plane(ctx.deployment.id, ctx.node.id, ctx.node.type_hierarchy, ctx.node.properties,
                                        local_mode=deployment.is_local(deployment.operation_storage(ctx)))


def _view(ctx):
    """(host address, the cluster as its API server sees it)."""
    control_plane = _control_plane(ctx)
    with control_plane.open(ctx.logger) as host:
        if control_plane.access is None:
            check_kubeconfig_path(host, control_plane.kubeconfig)
            return host.ip, cluster_view(host, control_plane.kubeconfig)
        return host.ip, cluster_view(host, control_plane.kubeconfig, control_plane.access.described)


def _read(ctx):
    """Reads the cluster, logs it in one line and records it; never anything of the kubeconfig but its server."""
    ip, view = _view(ctx)
    nodes = ", ".join(f"{name} ({_ready(state)})" for name, state in sorted(view.nodes.items()))
    ctx.logger.info(f"[{ip}] cluster at {view.endpoint}: Kubernetes {view.version}, nodes {nodes or 'none'}")
    save(ctx, api_endpoint=view.endpoint, kubernetes_version=view.version, node_names=sorted(view.nodes),
         nodes_ready={name: state == "True" for name, state in view.nodes.items()})


def _ready(state):
    return "Ready" if state == "True" else f"not Ready: {state}"


@operation(resumable=True)
@cloudify_errors
def create(ctx, **_):
    """Checks the workloads deployed on this cluster (their manifests and objects, here), then reads the cluster:
    the host answers with a known key, the API through the kubeconfig, its version and nodes. Changes nothing."""
    sources = manifest_sources(ctx, _control_plane(ctx).allow_plain_http)
    for node_id, props in deployment.workload_nodes(ctx, ctx.node.id).items():
        manifests.workload(props, node_id, sources)
    _read(ctx)


@operation(resumable=True)
@cloudify_errors
def check_status(ctx, **_):
    """Healthy when the API answers and every node is Ready (what `heal` checks first)."""
    ip, view = _view(ctx)
    unwell = [f"{name} ({_ready(state)})" for name, state in sorted(view.nodes.items()) if state != "True"]
    if unwell:
        raise NonRecoverableError(f"{ip}: not Ready: {', '.join(unwell)}: kub did not install this cluster and does "
                                  f"not repair it; see to these nodes (kubectl describe node, journalctl -u kubelet)")
    ctx.logger.info(f"[{ip}] API at {view.endpoint} answers, Kubernetes {view.version}; Ready: "
                    f"{', '.join(sorted(view.nodes))}")


@operation(resumable=True)
@cloudify_errors
def check_drift(ctx, **_):
    """What changed since kub last read the cluster (its API address, its Kubernetes version), told and returned;
    None when nothing did. A cluster that does not answer fails. kub repairs none of it (heal records it anew)."""
    recorded = ctx.instance.runtime_properties
    ip, view = _view(ctx)
    found = {key: f"{recorded.get(key)} -> {now}" for key, now in (("api_endpoint", view.endpoint),
                                                                   ("kubernetes_version", view.version))
             if recorded.get(key) and recorded.get(key) != now}
    for key, change in found.items():
        ctx.logger.info(f"[{ip}] drift: {key} {change} (heal records what it is now)")
    if not found:
        ctx.logger.info(f"[{ip}] no drift: API at {view.endpoint}, Kubernetes {view.version}")
    return found or None


@operation(resumable=True)
@cloudify_errors
def heal(ctx, **_):
    """Nothing to repair on a cluster kub did not install: reads it again and records what it found."""
    _read(ctx)


@operation(resumable=True)
@cloudify_errors
def delete(ctx, **_):
    """Nothing to undo: kub changed nothing on this cluster's hosts."""
    ctx.logger.info(f"cluster {ctx.node.id}: kub did not install it and leaves it as it is")
