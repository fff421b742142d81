"""Cluster steps on hosts. Each reads host state first and changes only what differs, so re-runs converge.

Plain Python over a `connection.Host`; nothing here knows Cloudify. Every change goes through `apply` (one
script of scripts/, run while holding the host's kub lock).
"""
import ipaddress
import json
import math
import re
import shlex
import time
from dataclasses import dataclass

from . import hoststate, kubeadm
from .connection import LOCK_BUSY, RemoteError

KUBECTL = f"kubectl --kubeconfig {hoststate.ADMIN_CONF}"
JOIN_TOKEN_TTL = "30m"
WATCH_SLICE_SECONDS = 30   # the longest single `kubectl wait`; then every node is looked at again


class StepError(RemoteError):
    """A step failed on a host."""


def ok_or_raise(host, result, what, secrets=()):
    """The result of a command that must succeed; else a one-line StepError (secrets redacted)."""
    if not result.ok:
        raise StepError(f"{host.ip}: {what} failed: {_redact(error_line(result), secrets)}")
    return result


def apply(host, label, script, env=None, secret_env=None, timeout=900, secrets=(),
          lock_wait=hoststate.LOCK_WAIT_SECONDS, lock=hoststate.LOCK_FILE):
    """Runs one idempotent script under the host's kub lock (`lock`, an flock file) and logs one line: what
    changed, or that nothing had to. Lines the script marks `note:` are told to the user as they are."""
    result = host.run_script(script, env={**hoststate.SCRIPT_ENV, **(env or {})}, secret_env=secret_env,
                             timeout=timeout + lock_wait, lock=(lock, lock_wait))
    if result.exit_code == LOCK_BUSY:
        raise StepError(f"{host.ip}: another kub run is working on this host (it held {lock} "
                        f"for over {lock_wait} s): let it finish, then run the workflow again")
    ok_or_raise(host, result, label, secrets)
    lines = result.stdout.splitlines()
    changes = [line[len("changed: "):] for line in lines if line.startswith("changed: ")]
    host.log(f"{label}: {'; '.join(changes) if changes else 'no change'}")
    for note in (line[len("note: "):] for line in lines if line.startswith("note: ")):
        host.log(note)
    return changes


def prepare(host, facts, profile, settings, owner, repository_key, versions, release=None):
    """Marks the host as the cluster's (`owner`: (cluster id, the mark's line)), then kernel, swap, the Kubernetes
    packages and containerd: the OS's package, or (with `release`, a local.ContainerdRelease) containerd's
    upstream release."""
    cluster_id, mark = owner
    apply(host, "owner mark, kernel and swap", "prepare-host.sh", timeout=120,
          env={"KUB_CLUSTER_ID": cluster_id, "KUB_OWNER": mark})
    apply(host, f"Kubernetes {settings.kubernetes_version} packages", "packages.sh",
          env={"KUB_REPO_URL": settings.repository_url, "KUB_REPO_KEY": repository_key,
               "KUB_INSTALL": " ".join(f"{p}={v}" for p, v in sorted(versions.items())),
               "KUB_OS_PACKAGES": profile["containerd_package"] if release is None else ""})
    if release is not None:
        install_containerd_release(host, facts, settings, release)
    apply(host, "containerd", "containerd.sh")


def install_containerd_release(host, facts, settings, release):
    """Uploads and installs containerd's release under /usr/local, unless the host has this very one."""
    label = f"containerd {settings.containerd_version} release"
    if facts.containerd_release == release.record:
        host.log(f"{label}: no change")
        return
    for name, data in (("containerd.tar.gz", release.tarball), ("runc", release.runc),
                       ("containerd.service", release.unit)):
        ok_or_raise(host, host.upload(data, f"{hoststate.CONTAINERD_STAGING}/{name}"), f"uploading {name}")
    apply(host, label, "containerd-release.sh", env={"KUB_RECORD": release.record, **release.sums()})


def init_master(host, facts, settings, cluster_id):
    """kubeadm init, once. Initialised means kub's record there, which init.sh writes last: a host this deployment
    initialised is left as it is. kubeadm writes admin.conf before its control plane is up, so an admin.conf
    without the record (on a host marked as this cluster's: checks.host refuses others) is an init that failed
    half way, or whose token removal failed: init.sh resets the host and initialises it again."""
    if facts.initialised:
        host.log("kubeadm init: already initialised by this deployment, no change")
        return False
    if facts.has_admin_conf:
        host.log(f"kubeadm init: {hoststate.ADMIN_CONF} is there without kub's record of a finished init (an earlier "
                 f"init failed half way): resetting this host and initialising it again")
    version = host.run("kubeadm version -o short", sudo=True).stdout.strip()
    if not version.startswith("v"):
        raise StepError(f"{host.ip}: kubeadm does not answer `kubeadm version`: run install again to "
                        f"reinstall the Kubernetes packages")
    token = kubeadm.new_token()
    config = kubeadm.init_configuration(settings, host.ip, facts.node_name, version, token, facts.cgroup_v1)
    apply(host, "kubeadm init", "init.sh", timeout=900, secrets=(token,),
          env={"KUB_INIT_TOKEN_ID": kubeadm.token_id(token), "KUB_RECORD": kubeadm.record(settings),
               "KUB_CRI_SOCKET": settings.cri_socket, "KUB_CLUSTER_ID": cluster_id},
          secret_env={"KUB_INIT_CONFIG": config})
    host.log(f"kubeadm init: Kubernetes {version}, API at {kubeadm.host_port(host.ip)}")
    return True


def user_kubeconfig(host):
    """A kubeconfig for the SSH user (root included), so kubectl works after logging in."""
    apply(host, "kubeconfig for " + host.settings.user, "user-kubeconfig.sh",
          env={"KUB_USER": host.settings.user}, timeout=60)


def apply_cni(host, manifest):
    """Uploads the CNI manifest (the master may have no internet) and applies it."""
    apply(host, "CNI", "cni.sh", env={"KUB_MANIFEST": manifest}, timeout=300)


def record_cni(host):
    """Records the CNI config the cluster's CNI wrote on a host, once its node is Ready (for uninstall)."""
    apply(host, "CNI config files", "cni-record.sh", timeout=60)


def nodes(master, kubectl=KUBECTL):
    """{node name: (Ready status 'True'/'False'/'Unknown', InternalIP)} as the API server sees them (through
    `kubectl`, the command and its options)."""
    result = master.run(f"{kubectl} get nodes -o json", sudo=True, timeout=60)
    if not result.ok:
        raise StepError(f"{master.ip}: the API server does not answer: {error_line(result)}")
    found = {}
    for item in json.loads(result.stdout).get("items", []):
        status = item.get("status", {})
        ready = [c["status"] for c in status.get("conditions", []) if c.get("type") == "Ready"]
        address = [a["address"] for a in status.get("addresses", []) if a.get("type") == "InternalIP"]
        found[item["metadata"]["name"]] = (ready[0] if ready else "Unknown",
                                           _canonical(address[0]) if address else "")
    return found


def node_states(master, kubectl=KUBECTL):
    """{node name: Ready status}."""
    return {name: ready for name, (ready, _) in nodes(master, kubectl).items()}


def wait_ready(master, node_names, timeout=300, interval=1, watch_slice=WATCH_SLICE_SECONDS):
    """Returns once every named node is Ready. A registered node is waited for with `kubectl wait` (a watch:
    it wakes the moment the node turns Ready, and asks the API server nothing meanwhile); while the API or
    a node is not there yet, the nodes are listed every `interval` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            states = node_states(master)
        except StepError:
            states = {}   # the API may still be coming up
        waiting = {name: states.get(name, "not registered") for name in node_names if states.get(name) != "True"}
        if not waiting:
            master.log(f"nodes Ready: {', '.join(node_names)}")
            return
        left = deadline - time.monotonic()
        if left <= 0:
            detail = ", ".join(f"{name} ({state})" for name, state in sorted(waiting.items()))
            raise StepError(f"{master.ip}: nodes not Ready after {timeout} s: {detail}: check kubelet and "
                            f"containerd on them (journalctl -u kubelet) and that the CNI is running")
        registered = sorted(name for name in waiting if name in states)
        if registered:
            # one node per call: kubectl waits for several one after the other, each with the whole timeout
            seconds = max(1, math.ceil(min(left, watch_slice)))
            waited = master.run(f"{KUBECTL} wait --for=condition=Ready node/{shlex.quote(registered[0])} "
                                f"--timeout={seconds}s", sudo=True, timeout=seconds + 30)
            if waited.ok:
                continue
        # not there yet, or the wait failed (e.g. the API server restarting): look again in a moment
        time.sleep(min(interval, left))


def wait_master(master, gather, cluster_id, timeout, failure=lambda: "", interval=3):
    """Waits until kub has initialised the master of this cluster and its API answers: its facts then.
    Stops within `interval` when the master's own operations failed (failure() says why)."""
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        facts = gather(master)
        if facts.owner_id == cluster_id and facts.initialised and facts.ca_cert_pem:
            try:
                node_states(master)
                if waited:
                    master.log("the master's API answers: joining")
                return facts
            except StepError:
                pass
        why = failure()
        if why:
            raise StepError(f"{master.ip}: the master failed ({why}), so no minion can join: fix that, then run "
                            f"install again")
        if time.monotonic() > deadline:
            raise StepError(f"{master.ip}: the master was not initialised within {timeout} s, so no minion could "
                            f"join: see why the master's install stopped, fix it, then run install again "
                            f"(or raise master_timeout)")
        if not waited:
            master.log("waiting for the master's kubeadm init before joining")
            waited = True
        if facts.recorded:
            time.sleep(interval)
        else:
            _await_file(master, hoststate.RECORD_FILE, interval)


def _await_file(host, path, seconds):
    """Returns once `path` exists on the host (init.sh writes its record last), or after `seconds`: the
    minions join as soon as the master is initialised, without polling it with whole fact gatherings."""
    host.run(f"timeout {seconds} sh -c 'until [ -s {path} ]; do sleep 0.2; done'", sudo=True,
             timeout=seconds + 30)


def join_token(master):
    """A fresh, short-lived bootstrap token made on the master (a secret: never logged)."""
    result = master.run(f"kubeadm token create --ttl {JOIN_TOKEN_TTL} --description "
                        f"{shlex.quote('made by kub for a join; removed after it')}", sudo=True, timeout=120)
    token = result.stdout.strip()
    if not result.ok or not kubeadm.TOKEN.fullmatch(token):
        # stdout may hold a token: report stderr only
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
        raise StepError(f"{master.ip}: could not create a join token: {detail[0][:300]}")
    return token


def delete_token(master, token):
    """Removes a bootstrap token kub made, by its id (the public half)."""
    ok_or_raise(master, master.run(f"kubeadm token delete {kubeadm.token_id(token)}", sudo=True, timeout=120),
                "removing the join token")


@dataclass(frozen=True)
class JoinTarget:
    """The master minions join: its address, its CA pin and the nodes it has ({name: (Ready, address)})."""
    ip: str
    ca_cert_hash: str
    registered: dict


def join(host, facts, settings, target, get_token):
    """Joins a minion to target's cluster, or leaves it when it already is a node of that cluster."""
    stale = facts.has_kubelet_conf
    if stale and facts.ca_cert_hash == target.ca_cert_hash and facts.node_name in target.registered:
        host.log("kubeadm join: already a node of this cluster, no change")
        return False
    # a join of ours that is stale (the master was rebuilt or the node removed) is reset first, by join.sh
    token = get_token()
    endpoint = kubeadm.host_port(target.ip)
    config = kubeadm.join_configuration(settings, endpoint, token, target.ca_cert_hash, facts.node_name,
                                        facts.cgroup_v1)
    apply(host, "kubeadm join", "join.sh", timeout=600, secrets=(token,),
          env={"KUB_API_ENDPOINT": endpoint, "KUB_RESET_FIRST": "yes" if stale else "no",
               "KUB_RECORD": kubeadm.record(settings), "KUB_CRI_SOCKET": settings.cri_socket},
          secret_env={"KUB_JOIN_CONFIG": config})
    return True


def remove_nodes(master, cluster_id, addresses, drain):
    """Drains and deletes nodes ({name: address}) of this cluster; a node gone, or at another address, is left.
    Under the master's lock, so it never overlaps a reset of the master. `drain`: a config.DrainSettings. A drain
    that PodDisruptionBudgets held fails naming them, the pods they protect and the ways out."""
    try:
        return apply(master, "remove nodes", "remove-nodes.sh",
                     timeout=drain.drain_timeout * len(addresses) + 120,
                     lock_wait=hoststate.RESET_LOCK_WAIT_SECONDS,   # other minion nodes' drains may hold it
                     env={"KUB_CLUSTER_ID": cluster_id, "KUB_DRAIN_TIMEOUT": drain.drain_timeout,
                          "KUB_FORCE_DRAIN": "yes" if drain.force_drain else "no",
                          "KUB_NODES": " ".join(f"{name}={address}" for name, address in sorted(addresses.items()))})
    except StepError as err:
        failed = re.search(r"draining node (\S+) failed", str(err))
        budgets = _drain_blockers(master, failed.group(1)) if failed and not drain.force_drain else {}
        if not budgets:
            raise
        held = "; ".join(f"{budget} (protecting {', '.join(pods)})" for budget, pods in sorted(budgets.items()))
        raise StepError(f"{master.ip}: draining node {failed.group(1)} did not finish within {drain.drain_timeout} s, "
                        f"held by PodDisruptionBudget{'s' if len(budgets) > 1 else ''} {held}: raise drain_timeout, "
                        f"change the budget, or set force_drain: true (the node's pods are then deleted without "
                        f"eviction)") from None


def _drain_blockers(master, node):
    """{PodDisruptionBudget 'namespace/name': ['namespace/pod', ...]} of the budgets selecting pods the drain of
    `node` left there (DaemonSet, mirror and finished pods are not drained); {} when they cannot be read."""
    lists = {}
    for what, command in (("pods", f"get pods -A --field-selector spec.nodeName={shlex.quote(node)} -o json"),
                          ("budgets", "get poddisruptionbudgets -A -o json")):
        result = master.run(f"{KUBECTL} {command}", sudo=True, timeout=60)
        if not result.ok:
            return {}
        lists[what] = json.loads(result.stdout).get("items", [])
    left = [pod for pod in lists["pods"] if _drained(pod)]
    found = {}
    for budget in lists["budgets"]:
        meta = budget["metadata"]
        pods = [f"{meta['namespace']}/{pod['metadata']['name']}" for pod in left
                if pod["metadata"]["namespace"] == meta["namespace"]
                and _selects((budget.get("spec") or {}).get("selector"), pod["metadata"].get("labels") or {})]
        if pods:
            found[f"{meta['namespace']}/{meta['name']}"] = sorted(pods)
    return found


def _drained(pod):
    """Whether `kubectl drain --ignore-daemonsets` evicts this pod."""
    meta = pod["metadata"]
    return (not any(owner.get("kind") == "DaemonSet" for owner in meta.get("ownerReferences") or [])
            and "kubernetes.io/config.mirror" not in (meta.get("annotations") or {})
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))


def _selects(selector, labels):
    """A label selector (matchLabels, matchExpressions) as the eviction subresource reads a budget's: a missing or
    empty one selects nothing."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, values = expression.get("key"), expression.get("values") or []
        operator = expression.get("operator")
        if ((operator == "In" and labels.get(key) not in values)
                or (operator == "NotIn" and key in labels and labels[key] in values)
                or (operator == "Exists" and key not in labels)
                or (operator == "DoesNotExist" and key in labels)):
            return False
    return True


def reset(host, settings, profile, purge):
    apply(host, "reset", "reset.sh", timeout=600, lock_wait=hoststate.RESET_LOCK_WAIT_SECONDS,
          env={"KUB_PURGE": "yes" if purge else "no", "KUB_CRI_SOCKET": settings.cri_socket,
               "KUB_OS_PACKAGES": profile["containerd_package"]})


def read_admin_kubeconfig(host):
    """The admin kubeconfig text (a secret: never log it)."""
    return ok_or_raise(host, host.run(f"cat {hoststate.ADMIN_CONF}", sudo=True, timeout=60),
                       f"reading {hoststate.ADMIN_CONF}").stdout


def _canonical(address):
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def error_line(result):
    for stream in (result.stderr, result.stdout):
        lines = [line.strip() for line in stream.splitlines() if line.strip()]
        marked = [line[len("error: "):] for line in lines if line.startswith("error: ")]
        if marked:
            return marked[-1]
        if lines:
            return lines[-1][:300]
    return f"exit code {result.exit_code}"


def _redact(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
