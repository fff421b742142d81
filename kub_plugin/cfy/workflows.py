"""Cloudify workflows kub_*: kubectl on a cluster of the deployment, as a workflow.

Each reads its parameters and the cluster node (a kub.nodes.Master or kub.nodes.ExistingCluster), checks every
parameter before it connects (workflow_parameters.py), then runs the kubectl commands of
workloads/workflow_commands.py over SSH on the cluster's control-plane host. They use only what the workflow
context offers in local mode and on a Cloudify Manager alike: the deployment's nodes, the blueprint's resources,
the logger.
"""
import contextlib
import functools
import os

from cloudify.decorators import workflow

from ..hosts.ssh import Host
from ..local import manifests
from ..workloads import workflow_commands as commands
from . import deployment
from . import workflow_parameters as parameters
from .errors import cloudify_errors


class Target:
    """What a kub_* workflow acts on: the cluster node's control plane and the checked parameters."""

    def __init__(self, ctx, name, params):
        # local mode's storage is the workflow handler's
        storage = getattr(ctx.internal.handler, "storage", None)
        self.local_mode = deployment.is_local(storage)
        found = deployment.deployment_nodes(storage, ctx.deployment.id)
        nodes = {node["id"]: node for node in found
                 if any(t in node["type_hierarchy"] for t in deployment.CLUSTER_TYPES)}
        node_id = parameters.cluster_node(name, {n: node["type"] for n, node in nodes.items()},
                                          params.get("node_id") or "")
        self.node_id = node_id
        self.label = f"{node_id} ({name})"
        self.values = parameters.checked(name, node_id, params)
        node = nodes[node_id]
        self.control_plane = deployment.control_plane(ctx.deployment.id, node_id, node["type_hierarchy"],
                                                      node["properties"] or {})

    @contextlib.contextmanager
    def connected(self, logger):
        with Host(self.control_plane.ssh, logger) as host:
            yield commands.Kubectl(host, self.control_plane)


def _kub_workflow(func):
    """A kub_* workflow: kub's one-line errors as the workflow's failure; the parameters checked first."""
    name = f"kub_{func.__name__}"

    @functools.wraps(func)
    def wrapper(ctx, **params):
        target = Target(ctx, name, params)
        return func(ctx, target, **target.values)
    return workflow(cloudify_errors(wrapper))


def _manifest_sources(ctx, target):
    """Where a manifest parameter may come from (local.manifests.Sources): a file beside the blueprint (local mode:
    cfy's copy of its folder; a manager: its upload), a URL, and an absolute path only in local mode."""
    def read(path):
        local_copy = ctx.download_resource(path)
        try:
            with open(local_copy, "rb") as f:
                return f.read()
        finally:
            os.unlink(local_copy)
    return manifests.Sources(read, target.local_mode, target.control_plane.allow_plain_http)


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
