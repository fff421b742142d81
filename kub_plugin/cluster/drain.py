"""Nodes leave the cluster: drained and deleted on the master; a drain that PodDisruptionBudgets hold names them."""
import json
import re

from ..hosts import scripts, state
from ..hosts.commands import Command
from ..hosts.runner import StepError, apply
from .nodes import KUBECTL


def remove_nodes(master, cluster_id, addresses, drain):
    """Drains and deletes nodes ({name: address}) of this cluster; a node gone, or at another address, is left.
    Under the master's lock, so it never overlaps a reset of the master. `drain`: a settings.DrainSettings. A drain
    that PodDisruptionBudgets held fails naming them, the pods they protect and the ways out."""
    try:
        removal = scripts.REMOVE_NODES.call(
            cluster_id=cluster_id, drain_timeout=drain.drain_timeout, force_drain="yes" if drain.force_drain else "no",
            nodes=" ".join(f"{name}={address}" for name, address in sorted(addresses.items())))
        return apply(master, "remove nodes", removal, timeout=drain.drain_timeout * len(addresses) + 120,
                     lock_wait=state.RESET_LOCK_WAIT_SECONDS)   # other minion nodes' drains may hold it
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


def drain_node(master, cluster_id, node, timeout):
    """Cordons and drains one node (its pods evicted, PodDisruptionBudgets honoured); one that a budget holds past
    `timeout` seconds is uncordoned again and fails naming the budget and the pods it protects."""
    try:
        return apply(master, f"drain {node}", scripts.DRAIN_NODE.call(
            cluster_id=cluster_id, node=node, action="drain", drain_timeout=timeout), timeout=timeout + 120)
    except StepError:
        budgets = _drain_blockers(master, node)
        if not budgets:
            raise
        held = "; ".join(f"{budget} (protecting {', '.join(pods)})" for budget, pods in sorted(budgets.items()))
        raise StepError(f"{master.ip}: draining node {node} did not finish within {timeout} s, held by "
                        f"PodDisruptionBudget{'s' if len(budgets) > 1 else ''} {held}: raise drain_timeout, or change "
                        f"the budget; the node takes pods again, run the upgrade again to resume") from None


def uncordon_node(master, cluster_id, node):
    return apply(master, f"uncordon {node}", scripts.DRAIN_NODE.call(
        cluster_id=cluster_id, node=node, action="uncordon", drain_timeout=0))


def _drain_blockers(master, node):
    """{PodDisruptionBudget 'namespace/name': ['namespace/pod', ...]} of the budgets selecting pods the drain of
    `node` left there (DaemonSet, mirror and finished pods are not drained); {} when they cannot be read."""
    lists = {}
    for what, command in (("pods", ("get", "pods", "-A", "--field-selector", f"spec.nodeName={node}", "-o", "json")),
                          ("budgets", ("get", "poddisruptionbudgets", "-A", "-o", "json"))):
        result = master.run(Command(KUBECTL, *command), sudo=True, timeout=60)
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
