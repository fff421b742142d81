"""PodDisruptionBudget arithmetic, as kube-controller-manager's disruption controller keeps a budget's status and
as the eviction subresource reads it.

- expectedPods: the pods the budget selects that are not finished (the real controller counts its controllers'
  replicas; for pods of one Deployment or StatefulSet with all of them created that is the same number)
- currentHealthy: those of them that are Ready
- desiredHealthy: minAvailable (a percentage of expectedPods rounded up), or expectedPods - maxUnavailable
- disruptionsAllowed: currentHealthy - desiredHealthy, never below 0
"""
from kube import validation


def selects(selector, labels):
    """A LabelSelector as a budget reads it: a missing or empty one selects nothing."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    return validation.selects(selector, labels)


def scaled(value, total):
    """An IntOrString of a budget: a number, or a percentage of `total` rounded up."""
    if isinstance(value, str) and value.endswith("%"):
        return -(-int(value[:-1]) * total // 100)
    return int(value)


def pod_ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def covered_pods(pdb, pods):
    spec = pdb.get("spec") or {}
    return [p for p in pods if p["metadata"].get("namespace") == pdb["metadata"].get("namespace")
            and selects(spec.get("selector"), p["metadata"].get("labels"))
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")]


def counts(pdb, pods):
    """(currentHealthy, desiredHealthy, expectedPods) of a budget over the namespace's pods."""
    spec = pdb.get("spec") or {}
    covered = covered_pods(pdb, pods)
    expected = len(covered)
    healthy = sum(1 for p in covered if pod_ready(p))
    if "maxUnavailable" in spec:
        desired = max(0, expected - scaled(spec["maxUnavailable"], expected))
    else:
        desired = scaled(spec.get("minAvailable", 0), expected)
    return healthy, desired, expected


def status(pdb, pods, now):
    """The budget's status as the disruption controller writes it; `now` stamps a condition that changes."""
    healthy, desired, expected = counts(pdb, pods)
    allowed = max(0, healthy - desired)
    old = pdb.get("status") or {}
    reason, message = ("SufficientPods", "") if allowed > 0 else ("InsufficientPods", "")
    cond = {"type": "DisruptionAllowed", "status": "True" if allowed > 0 else "False", "reason": reason,
            "message": message, "observedGeneration": pdb["metadata"].get("generation", 1)}
    before = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    same = before and before.get("status") == cond["status"] and before.get("reason") == reason
    cond["lastTransitionTime"] = before.get("lastTransitionTime") if same else now
    return {"observedGeneration": pdb["metadata"].get("generation", 1), "disruptionsAllowed": allowed,
            "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected, "conditions": [cond]}
