"""Cloudify operations of kub.nodes.Workload: read ctx, call the kubectl steps, write results back.

A workload is applied over SSH on the control-plane host of the master it is deployed_on. create checks (the
sources, and that no object of the same name exists that this node did not make); configure applies; start
waits until every object is ready and records them; delete removes exactly what this node made.
"""
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError

from ..hosts.plan import Plan
from ..hosts.runner import StepError
from ..local import manifests
from ..workloads import drift, model, ownership, readiness, steps
from . import control_planes
from .errors import cloudify_errors, save
from .machine import manifest_sources


class Workload:
    """A workload node as its operations see it: settings, objects (checked), owner name, control plane."""

    def __init__(self, ctx):
        self.node_id = ctx.node.id
        self.control_plane = control_planes.workload_cluster(ctx)
        self.settings, self.objects = manifests.workload(
            ctx.node.properties, ctx.node.id, manifest_sources(ctx, self.control_plane.allow_plain_http))
        self.refs = [ref for _, ref in self.objects]
        self.owner = f"{ctx.deployment.id}/{ctx.instance.id}"
        self.kubeconfig = self.control_plane.kubeconfig

    def host(self, logger):
        return self.control_plane.open(logger)


def _refuse_strangers(host, workload):
    live = steps.live_objects(host, workload.refs, workload.kubeconfig)
    others = ownership.strangers(workload.refs, live, workload.owner)
    if others:
        first = others[0]
        owner = ownership.owner_of(live[first])
        whose = (f"belongs to workload {owner}, not to this node" if owner else
                 f"was not made by kub (it has no {ownership.OWNER_ANNOTATION} annotation)")
        raise StepError(f"{host.ip}: node {workload.node_id}: {first.label} exists already and {whose}: kub leaves "
                        f"it alone; delete it or give this workload's object "
                        f"another name" + (f" ({len(others) - 1} more alike)" if len(others) > 1 else ""))
    return live


@operation(resumable=True)
@cloudify_errors
def create(ctx, **_):
    """Checks the workload's sources and objects, and that none of them belongs to someone else. Changes nothing."""
    workload = Workload(ctx)
    with workload.host(ctx.logger) as host:
        _refuse_strangers(host, workload)
    ctx.logger.info(f"workload {workload.node_id}: {len(workload.refs)} object(s) checked: "
                    f"{', '.join(ref.label for ref in workload.refs)}")
    # from here on, delete knows what this node may have made
    save(ctx, objects=[ref.record() for ref in workload.refs], namespace=workload.settings.namespace)


def _apply(ctx, workload):
    with workload.host(ctx.logger) as host:
        _refuse_strangers(host, workload)
        steps.apply(host, f"workload {workload.node_id}", ownership.owned(workload.objects, workload.owner),
                    workload.settings.namespace, workload.owner, workload.kubeconfig, workload.control_plane.lock)
        live = steps.live_objects(host, workload.refs, workload.kubeconfig)
    return [ref.record(_uid(live.get(ref))) for ref in workload.refs]


def _uid(live):
    return ((live or {}).get("metadata") or {}).get("uid", "")


def _wait_and_record(ctx, workload):
    with workload.host(ctx.logger) as host:
        live = steps.wait_ready(host, workload.refs, workload.settings.timeout, workload.kubeconfig)
    services = [readiness.endpoints(ref, live[ref]) for ref in workload.refs if ref.kind == "Service"]
    save(ctx, objects=[ref.record(_uid(live[ref])) for ref in workload.refs],
         services=services, namespace=workload.settings.namespace)
    for service in services:
        ports = ", ".join(f"{p['port']}/{p['protocol']}" + (f" (node port {p['node_port']})" if p.get("node_port")
                                                            else "") for p in service["ports"])
        ctx.logger.info(f"service {service['namespace']}/{service['name']}: {service['type']} "
                        f"{service['cluster_ip']} {ports}")


@operation(resumable=True)
@cloudify_errors
def configure(ctx, **_):
    """kubectl apply of the workload's objects (its namespace created first when missing), then records their
    uids: delete takes only these very objects."""
    workload = Workload(ctx)
    save(ctx, objects=_apply(ctx, workload), namespace=workload.settings.namespace)


@operation(resumable=True)
@cloudify_errors
def start(ctx, **_):
    """Waits until every object is ready, then records them (and where the Services answer)."""
    _wait_and_record(ctx, Workload(ctx))


@operation(resumable=True)
@cloudify_errors
def heal(ctx, **_):
    """Applies again (what drifted is set back, what was deleted is made again), then waits until ready."""
    workload = Workload(ctx)
    _apply(ctx, workload)
    _wait_and_record(ctx, workload)


@operation(resumable=True)
@cloudify_errors
def check_status(ctx, **_):
    """Reports readiness per object; fails when any is not ready, or when any drifted from what this node applies
    (what `heal` checks first, and sets back)."""
    workload = Workload(ctx)
    with workload.host(ctx.logger) as host:
        found = steps.states(workload.refs, steps.live_objects(host, workload.refs, workload.kubeconfig))
    for ref, (ready, detail) in found.items():
        ctx.logger.info(f"{ref.label}: {'ready' if ready else 'NOT ready'} ({detail})")
    unwell = [f"{ref.label} ({detail})" for ref, (ready, detail) in found.items() if not ready]
    if unwell:
        raise NonRecoverableError(f"not ready: {', '.join(unwell)}")
    found = _drift(ctx, workload)
    if found:
        raise NonRecoverableError(f"drifted from what its blueprint applies (heal sets it back): {'; '.join(found)}")


@operation(resumable=True)
@cloudify_errors
def check_drift(ctx, **_):
    """What differs between the workload's objects as this node applies them and as they are live: one line per
    object that drifted (the fields that differ), or None."""
    found = _drift(ctx, Workload(ctx))
    for line in found:
        ctx.logger.info(f"drift: {line}")
    if not found:
        ctx.logger.info(f"workload {ctx.node.id}: no drift")
    return found or None


def _drift(ctx, workload):
    """The API server's dry run of applying the workload again, and for each object it would change, how it
    differs live."""
    plan = Plan([workload.control_plane.where])
    owned = ownership.owned(workload.objects, workload.owner)
    with workload.control_plane.open(ctx.logger, plan) as host:
        _refuse_strangers(host, workload)
        changes = steps.apply(host, f"workload {workload.node_id}", owned, workload.settings.namespace,
                              workload.owner, workload.kubeconfig, workload.control_plane.lock)
        live = steps.live_objects(host, workload.refs, workload.kubeconfig)
    applied = dict(zip(workload.refs, owned))   # owned keeps the objects' order
    return [drift.described(ref, applied[ref], live.get(ref)) for ref in drift.drifted(changes, workload.refs)]


@operation(resumable=True)
@cloudify_errors
def delete(ctx, **_):
    """Deletes the objects this node made, in reverse order, and waits until they are gone; then its namespace,
    when this node created it and nothing else is left in it. Objects others made, and objects made again
    under the same name (another uid than the one recorded), are left as they are."""
    records = ctx.instance.runtime_properties.get("objects") or []
    if not records:
        ctx.logger.info(f"workload {ctx.node.id}: nothing to delete: it never applied anything")
        return
    recorded = {model.Ref.of(record): record.get("uid", "") for record in records}
    refs = list(recorded)
    owner = f"{ctx.deployment.id}/{ctx.instance.id}"
    control_plane = control_planes.workload_cluster(ctx)
    timeout = model.settings(ctx.node.properties, ctx.node.id).timeout
    namespace = ctx.instance.runtime_properties.get("namespace", "")
    with control_plane.open(ctx.logger) as host:
        live = steps.live_objects(host, refs, control_plane.kubeconfig)
        for ref in ownership.strangers(refs, live, owner):
            host.log(f"{ref.label} was not made by this node ({ownership.owner_of(live[ref]) or 'not by kub'}): "
                     f"left as it is")
        ours = []
        for ref in reversed(refs):
            if ref not in live or ownership.owner_of(live[ref]) != owner:
                continue
            uid = _uid(live[ref])
            if recorded[ref] and uid != recorded[ref]:
                host.log(f"{ref.label} is not the object this node made (uid {uid}, this node made {recorded[ref]}): "
                         f"it was made again under the same name: left as it is")
                continue
            ours.append((ref, uid))
        steps.delete(host, f"delete workload {ctx.node.id}", ours, timeout, control_plane.kubeconfig,
                     control_plane.lock)
        _delete_namespace(host, namespace, owner, refs, timeout, control_plane)
    save(ctx, objects=[], services=[])


def _delete_namespace(host, namespace, owner, refs, timeout, control_plane):
    """The namespace this node made, once this node's objects are gone, unless anything else is in it (of any
    kind the API server serves, custom resources too) or not every kind could be listed."""
    kubeconfig = control_plane.kubeconfig
    if not namespace:
        return
    ref = model.Ref("v1", "Namespace", "", namespace)
    live = steps.live_objects(host, [ref], kubeconfig).get(ref)
    if live is None or ownership.owner_of(live) != owner:
        return
    found, complete = steps.namespace_objects(host, namespace, kubeconfig)
    # what this node deleted is gone (it waited), so anything found is not its own, even an object of its
    # name made again; only a Service's Endpoints go with it a moment later (the endpoints controller's work)
    going = {("Endpoints", r.name) for r in refs if r.kind == "Service" and r.namespace == namespace}
    left = [steps.described(item) for item in found if (item.get("kind"), item["metadata"]["name"]) not in going]
    if left:
        host.log(f"namespace {namespace} (made by this workload) still holds {', '.join(left[:5])}"
                 f"{f' and {len(left) - 5} more' if len(left) > 5 else ''}: left as it is")
    elif not complete:
        host.log(f"namespace {namespace} (made by this workload): not every kind the API server serves could be "
                 f"listed (kubectl api-resources failed for some): left as it is")
    else:
        steps.delete(host, f"namespace {namespace}", [(ref, _uid(live))], timeout, kubeconfig, control_plane.lock)
