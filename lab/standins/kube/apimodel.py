"""What the API server tells clients about its resources: discovery, OpenAPI v3, Table columns.

A real kubectl learns everything from the server: which resources exist and under which names (discovery),
whether a kind's PATCH takes `fieldValidation` (OpenAPI v3, so `apply` validates on the server), and how
`get` prints a list (Table rows the server fills in).
"""
import hashlib
import json

from kube import util
from kube.client import RESOURCES

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SHORT_NAMES = {
    "nodes": ["no"], "namespaces": ["ns"], "pods": ["po"], "services": ["svc"], "configmaps": ["cm"],
    "serviceaccounts": ["sa"], "endpoints": ["ep"], "events": ["ev"], "persistentvolumes": ["pv"],
    "persistentvolumeclaims": ["pvc"], "resourcequotas": ["quota"], "limitranges": ["limits"],
    "replicationcontrollers": ["rc"], "daemonsets": ["ds"], "deployments": ["deploy"], "replicasets": ["rs"],
    "statefulsets": ["sts"], "cronjobs": ["cj"], "certificatesigningrequests": ["csr"],
    "customresourcedefinitions": ["crd", "crds"], "storageclasses": ["sc"], "priorityclasses": ["pc"],
    "networkpolicies": ["netpol"], "ingresses": ["ing"], "poddisruptionbudgets": ["pdb"],
}
CATEGORY_ALL = {"pods", "services", "replicationcontrollers", "daemonsets", "deployments", "replicasets",
                "statefulsets", "jobs", "cronjobs"}
# resource -> {subresource: (group, version, kind, verbs)}; group None: the parent's group and version
SUBRESOURCES = {
    "pods": {"status": (None, None, "Pod", ["get", "patch", "update"]),
             "eviction": ("policy", "v1", "Eviction", ["create"]),
             "binding": (None, None, "Binding", ["create"])},
    "nodes": {"status": (None, None, "Node", ["get", "patch", "update"])},
    "namespaces": {"status": (None, None, "Namespace", ["get", "patch", "update"]),
                   "finalize": (None, None, "Namespace", ["update"])},
    "services": {"status": (None, None, "Service", ["get", "patch", "update"])},
    "deployments": {"status": (None, None, "Deployment", ["get", "patch", "update"]),
                    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"])},
    "replicasets": {"status": (None, None, "ReplicaSet", ["get", "patch", "update"]),
                    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"])},
    "statefulsets": {"status": (None, None, "StatefulSet", ["get", "patch", "update"]),
                     "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"])},
    "daemonsets": {"status": (None, None, "DaemonSet", ["get", "patch", "update"])},
    "jobs": {"status": (None, None, "Job", ["get", "patch", "update"])},
    "cronjobs": {"status": (None, None, "CronJob", ["get", "patch", "update"])},
    "poddisruptionbudgets": {"status": (None, None, "PodDisruptionBudget", ["get", "patch", "update"])},
    "certificatesigningrequests": {"status": (None, None, "CertificateSigningRequest", ["get", "patch", "update"]),
                                   "approval": (None, None, "CertificateSigningRequest", ["get", "patch", "update"])},
}
SCALABLE = {k for k, v in SUBRESOURCES.items() if "scale" in v}


def custom_resources(crds):
    """What CustomResourceDefinitions serve, as the real server does once a CRD is Established: per served
    version of each, (group/version, plural, kind, namespaced, names) with names its singular, short names and
    categories."""
    out = []
    for crd in crds:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        if not spec.get("group") or not names.get("plural") or not names.get("kind"):
            continue
        extra = {"singular": names.get("singular") or names["kind"].lower(),
                 "shortNames": names.get("shortNames") or [], "categories": names.get("categories") or []}
        for version in spec.get("versions") or []:
            if version.get("served", True) and version.get("name"):
                out.append(("%s/%s" % (spec["group"], version["name"]), names["plural"], names["kind"],
                            spec.get("scope", "Namespaced") == "Namespaced", extra))
    return out


def served(custom=()):
    """[(group/version, plural, kind, namespaced, names)]: the built-in resources, then the custom ones."""
    return [(gv, plural, kind, namespaced, {}) for plural, (gv, kind, namespaced) in RESOURCES.items()] + list(custom)


def group_versions(custom=()):
    """{"v1" or "group/version": [(plural, kind, namespaced, names), ...]} in a stable order."""
    out = {}
    for gv, plural, kind, namespaced, names in served(custom):
        out.setdefault(gv, []).append((plural, kind, namespaced, names))
    return out


def singular(kind):
    return kind.lower()


def resource_list(gv, custom=()):
    """APIResourceList of one group/version (legacy discovery), or None if the server has no such version."""
    entries = group_versions(custom).get(gv)
    if entries is None:
        return None
    resources = []
    for plural, kind, namespaced, names in entries:
        r = {"name": plural, "singularName": names.get("singular") or singular(kind), "namespaced": namespaced,
             "kind": kind, "verbs": list(ALL_VERBS)}
        short = names.get("shortNames") if names else SHORT_NAMES.get(plural)
        if short:
            r["shortNames"] = short
        categories = names.get("categories") if names else (["all"] if plural in CATEGORY_ALL else [])
        if categories:
            r["categories"] = categories
        resources.append(r)
        subresources = {} if names else SUBRESOURCES.get(plural, {})   # custom resources: none here
        for sub, (group, version, skind, verbs) in sorted(subresources.items()):
            s = {"name": "%s/%s" % (plural, sub), "singularName": "", "namespaced": namespaced, "kind": skind,
                 "verbs": verbs}
            if group is not None:
                s["group"], s["version"] = group, version
            resources.append(s)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def api_group_list(custom=()):
    groups = {}
    for gv in group_versions(custom):
        if "/" in gv:
            g, v = gv.split("/")
            groups.setdefault(g, []).append(v)
    out = []
    for g in sorted(groups):
        versions = [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in groups[g]]
        out.append({"name": g, "versions": versions, "preferredVersion": versions[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(group, custom=()):
    for g in api_group_list(custom)["groups"]:
        if g["name"] == group:
            return dict(g, kind="APIGroup", apiVersion="v1")
    return None


# ---- OpenAPI v3 ------------------------------------------------------------------------------------------

def _openapi_path(gv):
    return "api/v1" if gv == "v1" else "apis/" + gv


def openapi_documents(custom=()):
    """{"api/v1": document, "apis/apps/v1": document, ...}: the paths of each group/version with their
    operations. Only what clients look up is described: each operation's group-version-kind and query
    parameters (PATCH takes fieldValidation and fieldManager, so clients leave validation to the server)."""
    docs = {}
    query = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
             for n in ("dryRun", "fieldManager", "fieldValidation")]
    for gv, entries in group_versions(custom).items():
        group, version = gv.split("/") if "/" in gv else ("", gv)
        paths = {}
        for plural, kind, namespaced, _ in entries:
            gvk = {"group": group, "version": version, "kind": kind}
            prefix = "/" + _openapi_path(gv) + ("/namespaces/{namespace}" if namespaced else "")

            def op(verb, action, version=version, kind=kind, gvk=gvk):
                return {"operationId": "%s%s%s" % (verb, version.capitalize(), kind),
                        "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                        "parameters": query if verb in ("create", "patch", "replace") else [],
                        "responses": {"200": {"description": "OK"}}}
            body = {"content": {t: {"schema": {"type": "object"}} for t in (
                "application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")}}
            patch = dict(op("patch", "patch"), requestBody=body)
            paths[prefix + "/" + plural] = {"get": op("list", "list"), "post": op("create", "post")}
            paths[prefix + "/" + plural + "/{name}"] = {"get": op("read", "get"), "put": op("replace", "put"),
                                                        "patch": patch, "delete": op("delete", "delete")}
        docs[_openapi_path(gv)] = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1"},
                                   "paths": paths, "components": {"schemas": {}}}
    return docs


def openapi_root(docs):
    return {"paths": {p: {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (
        p, hashlib.sha512(json.dumps(d, sort_keys=True).encode()).hexdigest()[:64].upper())}
        for p, d in docs.items()}}


# ---- Tables (what `kubectl get` prints) -------------------------------------------------------------------

def _col(name, typ="string", priority=0, fmt=""):
    return {"name": name, "type": typ, "format": fmt, "description": "", "priority": priority}


def _age(o):
    ts = o["metadata"].get("creationTimestamp")
    try:
        return util.age(ts) if ts else "<unknown>"
    except ValueError:
        return "<unknown>"


def _node_row(o):
    st = o.get("status") or {}
    ready = {c.get("type"): c.get("status") for c in st.get("conditions") or []}.get("Ready")
    status = "Unknown" if ready is None else "Ready" if ready == "True" else "NotReady"
    if (o.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = o["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k)
    addr = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return [o["metadata"]["name"], status, ",".join(r for r in roles if r) or "<none>", _age(o),
            info.get("kubeletVersion", ""), addr.get("InternalIP", "<none>"), addr.get("ExternalIP", "<none>"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _pod_row(o):
    """kubectl's STATUS as the server's printer makes it: a container's waiting or terminated reason over the
    phase (Init:... while init containers run)."""
    spec, st = o.get("spec") or {}, o.get("status") or {}
    cs = st.get("containerStatuses") or []
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in cs)
    reason = st.get("reason") or st.get("phase") or "Unknown"
    initializing = False
    inits = st.get("initContainerStatuses") or []
    for i, c in enumerate(inits):
        state = c.get("state") or {}
        ended, waiting = state.get("terminated"), state.get("waiting") or {}
        if ended and ended.get("exitCode") == 0:
            continue
        initializing = True
        if ended:
            reason = "Init:" + (ended.get("reason") or "ExitCode:%d" % ended.get("exitCode", 0))
        elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = "Init:%d/%d" % (i, len(inits))
        break
    if not initializing:
        for c in reversed(cs):
            state = c.get("state") or {}
            ended, waiting = state.get("terminated"), state.get("waiting") or {}
            if waiting.get("reason"):
                reason = waiting["reason"]
            elif ended:
                reason = ended.get("reason") or "ExitCode:%d" % ended.get("exitCode", 0)
    if o["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [o["metadata"]["name"], "%d/%d" % (ready, len(spec.get("containers") or [])), reason, restarts,
            _age(o), st.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>", "<none>"]


def _containers(spec):
    cs = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _selector(spec):
    ml = (spec.get("selector") or {}).get("matchLabels") or {}
    return ",".join("%s=%s" % kv for kv in sorted(ml.items())) or "<none>"


def _deployment_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(spec)
    return [o["metadata"]["name"], "%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 1)),
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0), _age(o), names, images, _selector(spec)]


def _replicaset_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(spec)
    return [o["metadata"]["name"], spec.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0),
            _age(o), names, images, _selector(spec)]


def _daemonset_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(spec)
    ns = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [o["metadata"]["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            ",".join("%s=%s" % kv for kv in sorted(ns.items())) or "<none>", _age(o), names, images,
            _selector(spec)]


def _service_row(o):
    spec = o.get("spec") or {}
    ports = ",".join("%s%s/%s" % (p.get("port"), ":%s" % p["nodePort"] if p.get("nodePort") else "",
                                  p.get("protocol", "TCP")) for p in spec.get("ports") or []) or "<none>"
    sel = spec.get("selector") or {}
    return [o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>",
            ",".join(spec.get("externalIPs") or []) or "<none>", ports, _age(o),
            ",".join("%s=%s" % kv for kv in sorted(sel.items())) or "<none>"]


def _namespace_row(o):
    return [o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"), _age(o)]


def _configmap_row(o):
    return [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)]


def _secret_row(o):
    return [o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}), _age(o)]


def _csr_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    conds = [c.get("type") for c in st.get("conditions") or []]
    cond = ",".join(conds) if conds else "Pending"
    if st.get("certificate") and "Approved" in conds:
        cond += ",Issued"
    return [o["metadata"]["name"], _age(o), spec.get("signerName", ""), spec.get("username", ""),
            "<none>", cond]


TABLES = {
    "nodes": ([_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version"),
               _col("Internal-IP", priority=1), _col("External-IP", priority=1), _col("OS-Image", priority=1),
               _col("Kernel-Version", priority=1), _col("Container-Runtime", priority=1)], _node_row),
    "pods": ([_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age"),
              _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
              _col("Readiness Gates", priority=1)], _pod_row),
    "deployments": ([_col("Name", fmt="name"), _col("Ready"), _col("Up-to-date", "integer"),
                     _col("Available", "integer"), _col("Age"), _col("Containers", priority=1),
                     _col("Images", priority=1), _col("Selector", priority=1)], _deployment_row),
    "replicasets": ([_col("Name", fmt="name"), _col("Desired", "integer"), _col("Current", "integer"),
                     _col("Ready", "integer"), _col("Age"), _col("Containers", priority=1),
                     _col("Images", priority=1), _col("Selector", priority=1)], _replicaset_row),
    "daemonsets": ([_col("Name", fmt="name"), _col("Desired", "integer"), _col("Current", "integer"),
                    _col("Ready", "integer"), _col("Up-to-date", "integer"), _col("Available", "integer"),
                    _col("Node Selector"), _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
                    _col("Selector", priority=1)], _daemonset_row),
    "services": ([_col("Name", fmt="name"), _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                  _col("Port(s)"), _col("Age"), _col("Selector", priority=1)], _service_row),
    "namespaces": ([_col("Name", fmt="name"), _col("Status"), _col("Age")], _namespace_row),
    "configmaps": ([_col("Name", fmt="name"), _col("Data", "integer"), _col("Age")], _configmap_row),
    "secrets": ([_col("Name", fmt="name"), _col("Type"), _col("Data", "integer"), _col("Age")], _secret_row),
    "certificatesigningrequests": ([_col("Name", fmt="name"), _col("Age"), _col("SignerName"),
                                    _col("Requestor"), _col("RequestedDuration"), _col("Condition")], _csr_row),
}
DEFAULT_TABLE = ([_col("Name", fmt="name"), _col("Age")], lambda o: [o["metadata"]["name"], _age(o)])


def wants_table(accept):
    return "as=Table" in (accept or "")


def table(resource, objects, resource_version, include="PartialObjectMetadata"):
    """A meta.k8s.io/v1 Table of objects, as `kubectl get` asks for it."""
    columns, row = TABLES.get(resource, DEFAULT_TABLE)
    rows = []
    for o in objects:
        r = {"cells": row(o)}
        if include == "Object":
            r["object"] = o
        elif include != "None":
            r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": o["metadata"]}
        rows.append(r)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": rows}


# ---- aggregated discovery (apidiscovery.k8s.io/v2: one answer for all groups) -----------------------------

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept):
    """The client asks for aggregated discovery (v2) before the legacy lists, as kubectl does since 1.26."""
    for part in (accept or "").split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("g") == "apidiscovery.k8s.io" and params.get("v") == "v2" and \
                params.get("as") == "APIGroupDiscoveryList":
            return True
    return False


def _discovery_version(gv, custom):
    group = gv.split("/")[0] if "/" in gv else ""
    version = gv.split("/")[-1]
    resources = []
    listed = resource_list(gv, custom)["resources"]
    for r in listed:
        if "/" in r["name"]:
            continue
        d = {"resource": r["name"], "responseKind": {"group": group, "version": version, "kind": r["kind"]},
             "scope": "Namespaced" if r["namespaced"] else "Cluster", "singularResource": r["singularName"],
             "verbs": r["verbs"]}
        for k in ("shortNames", "categories"):
            if k in r:
                d[k] = r[k]
        subs = [s for s in listed if s["name"].startswith(r["name"] + "/")]
        if subs:
            d["subresources"] = [{"subresource": s["name"].split("/", 1)[1], "verbs": s["verbs"],
                                  "responseKind": {"group": s.get("group", group), "version": s.get("version", version),
                                                   "kind": s["kind"]}} for s in subs]
        resources.append(d)
    return {"version": version, "resources": resources, "freshness": "Current"}


def aggregated_discovery(legacy_core, custom=()):
    """The APIGroupDiscoveryList of /api (legacy_core) or of /apis (with the custom resources' groups)."""
    if legacy_core:
        items = [{"metadata": {"creationTimestamp": None}, "versions": [_discovery_version("v1", custom)]}]
    else:
        items = [{"metadata": {"name": g["name"], "creationTimestamp": None},
                  "versions": [_discovery_version(v["groupVersion"], custom) for v in g["versions"]]}
                 for g in api_group_list(custom)["groups"]]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}
