"""Workload steps with the real kubectl on a control-plane host, as root with the cluster's admin kubeconfig.

Plain Python over a `hosts.ssh.Host` (nothing here knows Cloudify), usable by lifecycle operations and
workflows alike. Changes go through `hosts.runner.apply` (a script of scripts/ under the host's kub lock); reads are
plain kubectl commands. Objects are named to kubectl as stubs (apiVersion, kind, metadata) on its standard
input: no object data on command lines, and a Secret's data never in a message.
"""
import json
from dataclasses import dataclass

import yaml

from ..cluster.nodes import READ_TIMEOUT, kubectl_command
from ..hosts import runner, scripts, state
from ..hosts.commands import Command
from ..hosts.runner import StepError, ok_or_raise
from ..hosts.waiting import wait_until
from . import model, ownership, readiness

# what Kubernetes itself puts into every namespace (kind, name), and the kind of its records of what happened
NAMESPACE_DEFAULTS = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
RECORD_KINDS = {"Event"}
ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"


@dataclass(frozen=True)
class ApiResource:
    """One kind the API server serves, as `kubectl api-resources` lists it."""
    resource: str      # its plural, in API paths
    group: str
    kind: str
    namespaced: bool

    @property
    def qualified(self):
        """How kubectl names the resource without ambiguity: deployments.apps, configmaps."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def path(self, ref):
        """The object's API path (at the version kub applied it with)."""
        base = "/api/v1" if ref.api_version == "v1" else f"/apis/{ref.api_version}"
        where = f"/namespaces/{ref.namespace}" if self.namespaced else ""
        return f"{base}{where}/{self.resource}/{ref.name}"


def _stubs(refs):
    return yaml.safe_dump_all([ref.stub() for ref in refs], sort_keys=False)


def live_objects(host, refs, kubeconfig=state.ADMIN_CONF):
    """{Ref: the live object} of those refs that exist (read in one kubectl call)."""
    if not refs:
        return {}
    result = host.run(Command(kubectl_command(kubeconfig), "get", "-f", "-", "-o", "json", "--ignore-not-found"),
                      stdin=_stubs(refs), sudo=True, timeout=READ_TIMEOUT)
    ok_or_raise(host, result, "reading the workload's objects (kubectl get)")
    text = result.stdout.strip()
    found = json.loads(text) if text else {}
    items = found.get("items", []) if found.get("kind", "").endswith("List") else ([found] if found else [])
    by_name = {(ref.kind, ref.namespace, ref.name): ref for ref in refs}
    live = {}
    for item in items:
        meta = item.get("metadata") or {}
        ref = by_name.get((item.get("kind"), meta.get("namespace", ""), meta.get("name")))
        if ref is None:   # a cluster-scoped custom resource we had given a namespace
            ref = by_name.get((item.get("kind"), "", meta.get("name")))
            ref = ref or next((r for r in refs if (r.kind, r.name) == (item.get("kind"), meta.get("name"))), None)
        if ref is not None:
            live[ref] = item
    return live


def apply(host, label, objects, namespace, owner, kubeconfig=state.ADMIN_CONF, lock=state.LOCK_FILE):
    """Creates the namespace when missing (a Namespace object rendered here, so a name such as `123` or `true`
    stays a string), then `kubectl apply` of the objects (mappings, already owned), under the control plane's
    lock. Returns what changed ([] when kubectl found every object unchanged)."""
    namespace_object = {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": namespace, "annotations": {ownership.OWNER_ANNOTATION: owner}}}
    workload = scripts.WORKLOAD_APPLY.call(kubeconfig=kubeconfig, namespace=namespace,
                                           namespace_object=yaml.safe_dump(namespace_object, sort_keys=False),
                                           manifest=model.manifest_text(objects))
    return runner.apply(host, label, workload, timeout=300, lock=lock, secrets=model.secret_values(objects))


def api_resources(host, kubeconfig=state.ADMIN_CONF):
    """({(group, kind): ApiResource} of every kind the API server lists, complete): `kubectl api-resources`
    (its plain table, which every kubectl prints alike). complete is False when part of discovery failed (an
    aggregated API that does not answer): kubectl then lists the rest and says so."""
    result = host.run(Command(kubectl_command(kubeconfig), "api-resources", "--verbs=list"), sudo=True,
                      timeout=READ_TIMEOUT)
    lines = result.stdout.splitlines()
    if not lines or not lines[0].startswith("NAME"):
        ok_or_raise(host, result, "reading the kinds the API server serves (kubectl api-resources)")
    served = {}
    for line in lines[1:]:
        fields = line.split()   # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND
        if len(fields) >= 4:
            group = fields[-3].rpartition("/")[0]
            served[(group, fields[-1])] = ApiResource(fields[0], group, fields[-1], fields[-2] == "true")
    return served, result.ok


def delete(host, label, targets, timeout, kubeconfig=state.ADMIN_CONF, lock=state.LOCK_FILE):
    """Deletes these objects ([(Ref, uid)]) in this order, each only while it still has that uid (a precondition
    the API server checks as it deletes), and waits until they are gone. Returns what changed."""
    if not targets:
        host.log(f"{label}: no change")
        return []
    served, _ = api_resources(host, kubeconfig)
    lines = []
    for ref, uid in targets:
        resource = served.get((ref.group, ref.kind))
        if resource is None:   # nothing of a kind the API server does not serve can be there
            host.log(f"{ref.label}: the API server serves no kind {ref.kind} of {ref.api_version}: nothing to delete")
            continue
        namespace = ref.namespace if resource.namespaced else ""
        lines.append("|".join((resource.path(ref), uid, resource.qualified, namespace, ref.name, ref.kubectl_name)))
    deletes = scripts.WORKLOAD_DELETE.call(kubeconfig=kubeconfig, deletes="\n".join(lines), timeout=str(timeout))
    return runner.apply(host, label, deletes, timeout=timeout + 60, lock=lock)


def namespace_objects(host, namespace, kubeconfig=state.ADMIN_CONF):
    """(objects, complete): what is in a namespace, of every namespaced kind the API server lists, besides what
    Kubernetes puts there itself (its defaults, events) and objects another object owns (a ReplicaSet or Pod
    goes with its Deployment). complete is False when discovery missed some kinds."""
    served, complete = api_resources(host, kubeconfig)
    kinds = sorted(r.qualified for r in served.values() if r.namespaced and r.kind not in RECORD_KINDS)
    result = host.run(Command(kubectl_command(kubeconfig), "get", ",".join(kinds), "-n", namespace, "-o", "json"),
                      sudo=True, timeout=READ_TIMEOUT)
    ok_or_raise(host, result, f"listing namespace {namespace}")
    items = json.loads(result.stdout or "{}").get("items", [])
    return [item for item in items if not item["metadata"].get("ownerReferences")
            and (item.get("kind"), item["metadata"]["name"]) not in NAMESPACE_DEFAULTS
            and not kept_for_a_service(item)], complete


def kept_for_a_service(item):
    """Endpoints the control plane keeps for the Service of the same name (they carry no owner reference, and go
    a moment after their Service)."""
    labels = item["metadata"].get("labels") or {}
    return item.get("kind") == "Endpoints" and labels.get(ENDPOINTS_MANAGED_BY) == "endpoint-controller"


def described(item):
    """kind/name, as kubectl names an object in a list."""
    return f"{item.get('kind', '').lower()}/{item['metadata']['name']}"


def states(refs, live):
    """{Ref: (ready, detail)} (ready None: failed for good)."""
    return {ref: readiness.readiness(ref, live.get(ref)) for ref in refs}


def wait_ready(host, refs, timeout, kubeconfig=state.ADMIN_CONF, interval=2):
    """Waits until every object is ready (rolled out, complete, with its addresses); returns them live."""
    waiting = []

    def all_ready():
        nonlocal waiting
        live = live_objects(host, refs, kubeconfig)
        found = states(refs, live)
        failed = [f"{ref.label} {detail}" for ref, (ready, detail) in found.items() if ready is None]
        if failed:
            raise StepError(f"{host.ip}: {'; '.join(failed)}: see kubectl describe on the control plane, fix the "
                            f"workload, then run the workflow again")
        waiting = [f"{ref.label} ({detail})" for ref, (ready, detail) in found.items() if not ready]
        if waiting:
            return None
        host.log(f"ready: {', '.join(ref.label for ref in refs)}")
        return live

    def not_ready():
        why = _unschedulable(host, {ref.namespace for ref in refs if ref.namespace}, kubeconfig)
        return StepError(f"{host.ip}: not ready after {timeout} s: {', '.join(waiting)}{why}: check the pods "
                         f"(kubectl describe pod) and the nodes, or raise the workload's timeout")

    return wait_until(all_ready, timeout, interval, not_ready)


def _unschedulable(host, namespaces, kubeconfig):
    """Why a pod of these namespaces cannot be scheduled (the scheduler's message), or ''."""
    for namespace in sorted(namespaces):
        result = host.run(Command(kubectl_command(kubeconfig), "get", "pods", "-n", namespace, "-o", "json"),
                          sudo=True, timeout=READ_TIMEOUT)
        if not result.ok:
            continue
        for pod in json.loads(result.stdout or "{}").get("items", []):
            for condition in (pod.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                    return f"; pod {namespace}/{pod['metadata']['name']} cannot be scheduled: " \
                           f"{condition.get('message', condition.get('reason', ''))}"
    return ""
