"""Whether a workload's objects are ready, from their live state, and where their Services answer."""


def readiness(ref, live):
    """(ready, what it is waiting for) of one object, from its live state (None: it does not exist).
    A Job that failed is (None, why): waiting longer will not help."""
    if live is None:
        return False, "missing"
    kind, meta = ref.kind, live.get("metadata") or {}
    spec, status = live.get("spec") or {}, live.get("status") or {}
    observed = status.get("observedGeneration", 0) >= meta.get("generation", 0)
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        want = spec.get("replicas", 1)
        ready = status.get("readyReplicas") or 0
        updated = status.get("updatedReplicas", ready) if kind == "Deployment" else ready
        available = status.get("availableReplicas", ready) or 0
        if kind == "Deployment" and any(c.get("type") == "Progressing" and c.get("reason") ==
                                        "ProgressDeadlineExceeded" for c in status.get("conditions") or []):
            return None, "its rollout exceeded its progress deadline"
        done = observed and ready >= want and updated >= want and available >= want and \
            (status.get("replicas") or 0) <= want
        return done, f"{ready}/{want} ready"
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        ready = status.get("numberReady", 0)
        return observed and ready >= want and status.get("updatedNumberScheduled", 0) >= want, \
            f"{ready}/{want} ready"
    if kind == "Job":
        conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
        if "Failed" in conditions:
            return None, f"failed ({conditions['Failed'].get('reason', '')}: {conditions['Failed'].get('message', '')})"
        return "Complete" in conditions, f"{status.get('succeeded', 0)}/{spec.get('completions', 1)} complete"
    if kind == "Pod":
        phase = status.get("phase", "Pending")
        if phase == "Failed":
            return None, "failed"
        ready = phase == "Succeeded" or any(c.get("type") == "Ready" and c.get("status") == "True"
                                            for c in status.get("conditions") or [])
        return ready, phase
    if kind == "Service":
        return _service_ready(spec)
    if kind == "Namespace":
        phase = status.get("phase", "Active")
        return phase == "Active", phase
    return True, "present"


def _service_ready(spec):
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return True, f"ExternalName {spec.get('externalName', '')}"
    if not spec.get("clusterIP"):
        return False, "no cluster IP yet"
    if kind in ("NodePort", "LoadBalancer") and not all(p.get("nodePort") for p in spec.get("ports") or []):
        return False, "no node port yet"
    return True, f"{kind} {spec['clusterIP']}"


def endpoints(ref, live):
    """Where a Service answers: its type, cluster IP and ports (with node ports), for runtime properties."""
    spec = live.get("spec") or {}
    ports = []
    for port in spec.get("ports") or []:
        entry = {"name": port.get("name", ""), "port": port.get("port"), "protocol": port.get("protocol", "TCP"),
                 "target_port": port.get("targetPort", port.get("port"))}
        if port.get("nodePort"):
            entry["node_port"] = port["nodePort"]
        ports.append(entry)
    return {"namespace": ref.namespace, "name": ref.name, "type": spec.get("type", "ClusterIP"),
            "cluster_ip": spec.get("clusterIP", ""), "ports": ports}
