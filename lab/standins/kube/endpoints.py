"""The endpoints controller of kube-controller-manager: each Service with a selector gets an Endpoints object of
the same name, listing the pods it selects that have an IP (ready ones in `addresses`, the others in
`notReadyAddresses`), with each Service port's target port resolved against the pod (a number, or the name of a
container port)."""
from kube import client as kclient
from kube import util

MANAGED = "endpoints.kubernetes.io/managed-by"


def selects(selector, pod):
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def target(port, pod):
    """The port a pod serves a Service port on; None when a named port is not the pod's."""
    wanted = port.get("targetPort", port.get("port"))
    if isinstance(wanted, int) or str(wanted).isdigit():
        return int(wanted)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == wanted:
                return int(p["containerPort"])
    return None


def wanted_subsets(service, pods):
    """The Endpoints' subsets: pods grouped by the ports they resolve to (sorted, as the controller sorts them)."""
    groups = {}
    for pod in pods:
        status = pod.get("status") or {}
        if not status.get("podIP") or pod["metadata"].get("deletionTimestamp") or \
                status.get("phase") in ("Succeeded", "Failed"):
            continue
        ports = []
        for port in (service.get("spec") or {}).get("ports") or []:
            number = target(port, pod)
            if number is not None:
                ports.append({"name": port.get("name") or "", "port": number,
                              "protocol": port.get("protocol") or "TCP"})
        if not ports:
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        address = {"ip": status["podIP"], "nodeName": pod["spec"].get("nodeName", ""),
                   "targetRef": {"kind": "Pod", "namespace": pod["metadata"]["namespace"],
                                 "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}}
        key = tuple((p["name"], p["port"], p["protocol"]) for p in ports)
        group = groups.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
        group["addresses" if ready else "notReadyAddresses"].append(address)
    subsets = []
    for _, group in sorted(groups.items()):
        subset = {k: sorted(v, key=lambda a: a["ip"]) for k, v in group.items() if k != "ports" and v}
        subset["ports"] = [{k: v for k, v in p.items() if v != ""} for p in group["ports"]]
        subsets.append(subset)
    return subsets


def sync(api):
    pods = api.get("/api/v1/pods")["items"]
    existing = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in api.get("/api/v1/endpoints")["items"]}
    services = api.get("/api/v1/services")["items"]
    named = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in services}
    for (ns, name), ep in existing.items():   # a Service's that is gone
        if (ns, name) not in named and (ep["metadata"].get("labels") or {}).get(MANAGED) == "endpoint-controller":
            try:
                api.delete("/api/v1/namespaces/%s/endpoints/%s" % (ns, name))
            except kclient.ApiError as e:
                if e.code != 404:
                    raise
    for svc in services:
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            continue   # endpoints of a Service without a selector are its owner's to write
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        subsets = wanted_subsets(svc, [p for p in pods if p["metadata"]["namespace"] == ns and selects(selector, p)])
        current = existing.get((ns, name))
        if current is not None and (current.get("subsets") or []) == subsets:
            continue
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns,
                             "labels": dict((svc["metadata"].get("labels") or {}),
                                            **{MANAGED: "endpoint-controller"})}}
        if subsets:
            body["subsets"] = subsets
        try:
            if current is None:
                api.create("/api/v1/namespaces/%s/endpoints" % ns, body)
            else:
                body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
                api.replace("/api/v1/namespaces/%s/endpoints/%s" % (ns, name), body)
        except kclient.ApiError as e:
            if e.code not in (404, 409):
                raise
            util.klog("I", "endpoints %s/%s: %s (next sync)" % (ns, name, e))
