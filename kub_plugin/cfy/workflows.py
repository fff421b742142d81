"""Cloudify workflows kub_*: the install's plan, and kubectl on a cluster of the deployment, as a workflow.

Each reads its parameters and the cluster node (a kub.nodes.Master or kub.nodes.ExistingCluster), checks every
parameter before it connects (workflow_parameters.py), then runs the kubectl commands of
workloads/workflow_commands.py over SSH on the cluster's control-plane host. They use only what the workflow
context offers in local mode and on a Cloudify Manager alike: the deployment's nodes, the blueprint's resources,
the logger.
"""
import contextlib
import functools

from cloudify.decorators import workflow

from ..cluster.install_plan import install_plan
from ..hosts.plan import Plan
from ..local import manifests
from ..local.artifacts import Artifacts
from ..workloads import workflow_commands as commands
from . import control_planes, deployment
from . import workflow_parameters as parameters
from .errors import cloudify_errors
from .machine import workflow_manifest_sources


class Target:
    """What a kub_* workflow acts on: the cluster node's control plane and the checked parameters."""

    def __init__(self, ctx, name, params):
        # local mode's storage is the workflow handler's
        storage = getattr(ctx.internal.handler, "storage", None)
        self.local_mode = deployment.is_local(storage)
        found = deployment.deployment_nodes(storage, ctx.deployment.id)
        nodes = {node["id"]: node for node in found
                 if any(t in node["type_hierarchy"] for t in control_planes.CLUSTER_TYPES)}
        node_id = parameters.cluster_node(name, {n: node["type"] for n, node in nodes.items()},
                                          params.get("node_id") or "")
        self.node_id = node_id
        self.label = f"{node_id} ({name})"
        self.dry_run = False
        self.values = parameters.checked(name, node_id, params)
        node = nodes[node_id]
        records = deployment.instance_records(storage, ctx.deployment.id)
        self.control_plane = control_planes.control_plane(ctx.deployment.id, node_id, node["type_hierarchy"],
                                                          node["properties"] or {}, records.get(node_id),
                                                          self.local_mode)

    @contextlib.contextmanager
    def connected(self, logger):
        """kubectl on the control plane; with dry_run, its changes are the API server's dry runs, told as a plan
        once the workflow's work is done."""
        plan = Plan([self.control_plane.where]) if self.dry_run else None
        with self.control_plane.open(logger, plan) as host:
            yield commands.Kubectl(host, self.control_plane)
        if plan is not None:
            plan.report(logger, self.label)


def _kub_workflow(func):
    """A kub_* workflow: kub's one-line errors as the workflow's failure; the parameters checked first."""
    name = f"kub_{func.__name__}"

    @functools.wraps(func)
    def wrapper(ctx, **params):
        target = Target(ctx, name, params)
        values = dict(target.values)
        target.dry_run = bool(values.pop("dry_run", False))
        return func(ctx, target, **values)
    return workflow(cloudify_errors(wrapper))


@workflow
@cloudify_errors
def plan(ctx, node_id="", **_):
    """kub_plan: what `cfy install` would change on every host of the deployment's clusters (of the Master
    node_id, when given), told host by host (cluster.install_plan); nothing changes."""
    storage = getattr(ctx.internal.handler, "storage", None)   # local mode's; a manager's REST API otherwise
    found = deployment.deployment_nodes(storage, ctx.deployment.id)
    masters = {node["id"]: node for node in found if deployment.MASTER_TYPE in node["type_hierarchy"]}
    chosen = [parameters.cluster_node("kub_plan", {n: deployment.MASTER_TYPE for n in masters}, node_id)] \
        if node_id or len(masters) == 1 else sorted(masters)
    for master_id in chosen:
        records = deployment.instance_records(storage, ctx.deployment.id)
        cluster = deployment.Cluster(ctx.deployment.id, master_id, masters[master_id]["properties"] or {},
                                     records.get(master_id))
        minions = [host for minion_id, props in deployment.connected_nodes(found, master_id,
                                                                           deployment.MASTER_RELATIONSHIP).items()
                   for host in deployment.hosts(props, minion_id, records.get(minion_id))]
        sources = workflow_manifest_sources(ctx, deployment.is_local(storage), cluster.settings.allow_plain_http)
        manifests.check_url_settings(cluster.settings, sources)
        manifest = manifests.cni_manifest(cluster.settings.cni_manifest, sources, master_id)
        plan = install_plan(cluster, minions, manifest, Artifacts(cluster.settings), ctx.logger)
        plan.report(ctx.logger, f"the install of {cluster.name}")
    if not chosen:
        ctx.logger.info(f"kub_plan: deployment {ctx.deployment.id} has no {deployment.MASTER_TYPE} node: nothing "
                        f"to install on hosts")


def _manifest_sources(ctx, target):
    return workflow_manifest_sources(ctx, target.local_mode, target.control_plane.allow_plain_http)


@_kub_workflow
def apply(ctx, target, manifest, namespace):
    objects = manifests.manifest_objects(manifest, namespace, _manifest_sources(ctx, target), target.label)
    with target.connected(ctx.logger) as kubectl:
        commands.apply(kubectl, objects)


@_kub_workflow
def delete(ctx, target, kind, name, manifest, namespace):
    refs = None
    if manifest is not None:
        refs = [ref for _, ref in manifests.manifest_objects(manifest, namespace, _manifest_sources(ctx, target),
                                                             target.label)]
    with target.connected(ctx.logger) as kubectl:
        if refs is None:
            commands.delete_named(kubectl, parameters.KINDS[kind], name, namespace)
        else:
            commands.delete(kubectl, refs)


@_kub_workflow
def run(ctx, target, name, image, replicas, port, namespace):
    with target.connected(ctx.logger) as kubectl:
        commands.run(kubectl, name, image, replicas, port, namespace)


@_kub_workflow
def expose(ctx, target, name, port, target_port, type, namespace):  # noqa: A002 (the parameter's name)
    with target.connected(ctx.logger) as kubectl:
        commands.expose(kubectl, name, port, target_port, type, namespace)


@_kub_workflow
def scale(ctx, target, name, replicas, kind, namespace):
    with target.connected(ctx.logger) as kubectl:
        commands.scale(kubectl, kind, name, replicas, namespace)


@_kub_workflow
def rollout_restart(ctx, target, name, namespace):
    with target.connected(ctx.logger) as kubectl:
        commands.rollout_restart(kubectl, name, namespace)


@_kub_workflow
def drain(ctx, target, nodes, namespace):
    with target.connected(ctx.logger) as kubectl:
        commands.drain(kubectl, nodes)


@_kub_workflow
def uncordon(ctx, target, nodes, namespace):
    with target.connected(ctx.logger) as kubectl:
        commands.uncordon(kubectl, nodes)


@_kub_workflow
def get(ctx, target, kind, name, namespace):
    with target.connected(ctx.logger) as kubectl:
        commands.get(kubectl, parameters.KINDS[kind], name, namespace)
