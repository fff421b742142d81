"""kubectl commands of the kub_* workflows, run on a control-plane host as root with the cluster's kubeconfig.

Plain Python over a `hosts.ssh.Host` (nothing here knows Cloudify). Parameters come checked
(cfy/workflow_parameters.py) and reach kubectl as separate arguments, each quoted (hosts/commands.py). Reads run as
plain kubectl commands and log what kubectl prints; changes go through `hosts.runner.apply` (scripts/kubectl-change.sh
under the host's kub lock, its arguments one a line, never through a shell), which logs kubectl's lines. A manifest
travels on standard input, so a Secret's data never shows on a command line or in a message.

Objects made here are plain cluster objects. An object that carries a Workload's owner annotation belongs to
that node: kub refuses to apply over it or delete it, and says whose it is.
"""
import json
import time

from ..cluster.nodes import READ_TIMEOUT, kubectl_command
from ..hosts import runner, scripts
from ..hosts.commands import Command
from ..hosts.runner import StepError, ok_or_raise
from . import model, ownership, readiness, steps

ROLLOUT_TIMEOUT = 300


class Kubectl:
    """kubectl on a control-plane host (an open `hosts.ssh.Host`), the kubeconfig kubectl uses there and the lock its
    changes take (cfy.control_planes.ControlPlane: on a cluster kub did not install, nothing is added to the host)."""

    def __init__(self, host, control_plane):
        self.host = host
        self.kubeconfig = control_plane.kubeconfig
        self.lock = control_plane.lock

    def _command(self, args):
        return Command(kubectl_command(self.kubeconfig), *args)

    def read(self, args, what, timeout=READ_TIMEOUT):
        """kubectl args (a read); its output lines are logged; a failure raises with kubectl's error line."""
        result = self.host.run(self._command(args), sudo=True, timeout=timeout)
        ok_or_raise(self.host, result, what)
        for line in result.stdout.splitlines():
            if line.strip():
                self.host.log(line)
        return result.stdout

    def change(self, label, args, stdin="", secrets=(), timeout=ROLLOUT_TIMEOUT):
        """kubectl args (a change) under the host's kub lock; kubectl's lines are logged, its error line
        raised. `stdin` (a manifest) goes on standard input; `secrets` are redacted from any error."""
        change = scripts.KUBECTL_CHANGE.call(kubeconfig=self.kubeconfig, args="\n".join(args), stdin=stdin)
        return runner.apply(self.host, label, change, timeout=timeout + 60, secrets=secrets, lock=self.lock)

    def live(self, kind, name, namespace):
        """The live object of that kind and name, or None."""
        command = self._command(["get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found"])
        result = self.host.run(command, sudo=True, timeout=READ_TIMEOUT)
        ok_or_raise(self.host, result, f"reading {kind} {name}")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def wait_rollout(self, kind, name, namespace):
        if self.host.plan is not None:   # a dry run rolls nothing out
            return
        self.read(["rollout", "status", f"{kind}/{name}", "-n", namespace, f"--timeout={ROLLOUT_TIMEOUT}s"],
                  f"waiting for the rollout of {kind} {namespace}/{name} (kubectl rollout status)",
                  timeout=ROLLOUT_TIMEOUT + 60)


def _refuse_owned(host, refs, live, action):
    for ref in refs:
        owner = ownership.owner_of(live[ref]) if ref in live else ""
        if owner:
            deployment, _, instance = owner.partition("/")
            raise StepError(f"{host.ip}: {ref.label} belongs to node instance {instance} of deployment {deployment} "
                            f"(annotation {ownership.OWNER_ANNOTATION}): kub does not {action} it here; it goes with "
                            f"that node (cfy uninstall of its deployment), or change that node's blueprint")


def _note_owned(host, live, label):
    owner = ownership.owner_of(live) if live else ""
    if owner:
        host.log(f"{label} belongs to workload {owner}: its heal sets it back to what its blueprint says")


def apply(kubectl, objects):
    """kubectl apply of checked objects [(object, Ref)]; refused if any of them belongs to a Workload node."""
    refs = [ref for _, ref in objects]
    _refuse_owned(kubectl.host, refs, steps.live_objects(kubectl.host, refs, kubectl.kubeconfig), "apply over")
    placed = model.placed(objects)
    return kubectl.change("kubectl apply", ["apply", "-f", "-"], stdin=model.manifest_text(placed),
                          secrets=model.secret_values(placed))


def delete(kubectl, refs):
    """Deletes these objects (Refs) and waits until they are gone; those already gone are skipped. Refused,
    before anything is deleted, if any of them belongs to a Workload node, or is a namespace holding objects of
    one. Each is deleted only while it is the object read here (its uid, a precondition the API server checks)."""
    live = steps.live_objects(kubectl.host, refs, kubectl.kubeconfig)
    for ref in refs:
        if ref.kind == "Namespace" and ref in live:
            _refuse_workload_content(kubectl, ref.name)
    _refuse_owned(kubectl.host, refs, live, "delete")
    present = [(ref, live[ref]["metadata"].get("uid", "")) for ref in refs if ref in live]
    return steps.delete(kubectl.host, "kubectl delete", present, ROLLOUT_TIMEOUT, kubectl.kubeconfig, kubectl.lock)


def _refuse_workload_content(kubectl, namespace):
    """Deleting a namespace deletes everything in it: refused while it holds objects of Workload nodes."""
    found, _ = steps.namespace_objects(kubectl.host, namespace, kubectl.kubeconfig)
    owned = [f"{steps.described(item)} ({ownership.owner_of(item)})" for item in found if ownership.owner_of(item)]
    if owned:
        raise StepError(f"{kubectl.host.ip}: namespace {namespace} holds objects of Workload nodes: "
                        f"{', '.join(owned[:5])}{f' and {len(owned) - 5} more' if len(owned) > 5 else ''}: kub "
                        f"does not delete it here; they go with their nodes (cfy uninstall of their deployments), "
                        f"then delete the namespace")


def delete_named(kubectl, resource, name, namespace):
    """Deletes one object by resource (kubectl's name of its kind) and name (see delete)."""
    found = kubectl.live(resource, name, namespace)
    if found is None:
        kubectl.host.log(f'kubectl delete: {resource} "{name}" not found in namespace {namespace}: no change')
        return []
    meta = found["metadata"]
    ref = model.Ref(found["apiVersion"], found["kind"], meta.get("namespace", ""), meta["name"])
    return delete(kubectl, [ref])


def run(kubectl, name, image, replicas, port, namespace):
    """A Deployment of `replicas` pods of `image` (kubectl create deployment), then waits for its rollout."""
    args = ["create", "deployment", name, f"--image={image}", f"--replicas={replicas}", "-n", namespace]
    if port is not None:
        args.append(f"--port={port}")
    changes = kubectl.change("kubectl create deployment", args)
    kubectl.wait_rollout("deployment", name, namespace)
    return changes


def expose(kubectl, name, port, target_port, service_type, namespace):
    """A Service for a Deployment (kubectl expose); logs where it answers."""
    args = ["expose", "deployment", name, f"--port={port}", f"--type={service_type}", "-n", namespace]
    if target_port is not None:
        args.append(f"--target-port={target_port}")
    changes = kubectl.change("kubectl expose", args)
    service = kubectl.live("service", name, namespace)
    if service is not None:
        found = readiness.endpoints(model.Ref("v1", "Service", namespace, name), service)
        ports = ", ".join(f"{p['port']}/{p['protocol']}" + (f" (node port {p['node_port']})" if p.get("node_port")
                                                            else "") for p in found["ports"])
        kubectl.host.log(f"service {namespace}/{name}: {found['type']} {found['cluster_ip']} {ports}")
    return changes


def scale(kubectl, kind, name, replicas, namespace):
    """kubectl scale, then waits for the rollout."""
    _note_owned(kubectl.host, kubectl.live(kind, name, namespace), f"{kind} {namespace}/{name}")
    changes = kubectl.change("kubectl scale", ["scale", kind, name, f"--replicas={replicas}", "-n", namespace])
    kubectl.wait_rollout(kind, name, namespace)
    return changes


def rollout_restart(kubectl, name, namespace):
    """kubectl rollout restart of a Deployment (new pods from a new ReplicaSet), then waits for the rollout. (kubectl
    has no dry run of it: a plan asks the API server for one of the patch it makes, its pod template's
    restartedAt annotation.)"""
    args = ["rollout", "restart", f"deployment/{name}", "-n", namespace]
    if kubectl.host.plan is not None:
        restarted = {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}}}}
        args = ["patch", f"deployment/{name}", "-n", namespace, "-p", json.dumps(restarted)]
    changes = kubectl.change("kubectl rollout restart", args)
    kubectl.wait_rollout("deployment", name, namespace)
    return changes


def drain(kubectl, nodes):
    """Cordons the nodes and evicts their pods (DaemonSets' pods stay, as their controller would put them back)."""
    return kubectl.change("kubectl drain", ["drain", *nodes, "--ignore-daemonsets", f"--timeout={ROLLOUT_TIMEOUT}s"])


def uncordon(kubectl, nodes):
    return kubectl.change("kubectl uncordon", ["uncordon", *nodes])


def get(kubectl, kind, name, namespace):
    """kubectl get, its table logged line by line."""
    return kubectl.read(["get", kind, *([name] if name else []), "-n", namespace], "kubectl get")
