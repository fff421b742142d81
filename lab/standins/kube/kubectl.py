"""kubectl: get, apply, delete, cordon/uncordon, drain, label, taint, wait, version, cluster-info."""
import json
import os
import sys
import time

from kube import client as kclient
from kube import common, util

KUSTOMIZE = "v5.4.2"


class CmdError(Exception):
    pass


def out(msg=""):
    sys.stdout.write(msg + "\n")


def resolve(kind_arg):
    name = kind_arg.lower()
    group_hint = None
    if "." in name:
        name, group_hint = name.split(".", 1)
    plural = kclient.SHORT_NAMES.get(name, name)
    if plural not in kclient.RESOURCES and plural + "s" in kclient.RESOURCES:
        plural += "s"
    if plural not in kclient.RESOURCES:
        raise CmdError('error: the server doesn\'t have a resource type "%s"' % kind_arg)
    gv, kind, namespaced = kclient.RESOURCES[plural]
    return plural, gv, kind, namespaced


def singular(plural):
    return kclient.RESOURCES[plural][1].lower()


def qualified_kind(gv, kind):
    group = gv.split("/")[0] if "/" in gv else ""
    return kind.lower() + ("." + group if group else "")


class Kubectl:
    def __init__(self, flags):
        self.flags = flags
        self._api = None

    @property
    def api(self):
        if self._api is None:
            path = self.flags["kubeconfig"] or kclient.default_kubeconfig_path()
            if not os.path.exists(path):
                if self.flags["kubeconfig"]:
                    raise CmdError("error: stat %s: no such file or directory" % path)
                self._api = kclient.Client(self.flags["server"] or "http://localhost:8080")
            else:
                timeout = self.flags["request-timeout"]
                to = util.parse_duration(timeout) if timeout not in ("", "0") else 30
                self._api = kclient.client_from_kubeconfig(path, context=self.flags["context"] or None,
                                                           timeout=to, server=self.flags["server"] or None)
        return self._api

    def ns(self):
        return self.flags["namespace"] or "default"


def load_manifests(path):
    if path == "-":
        text = sys.stdin.read()
    else:
        paths = []
        if os.path.isdir(path):
            paths = sorted(os.path.join(path, p) for p in os.listdir(path) if p.endswith((".yaml", ".yml", ".json")))
        elif os.path.exists(path):
            paths = [path]
        else:
            raise CmdError('error: the path "%s" does not exist' % path)
        text = "\n---\n".join(util.read_text(p, "") for p in paths)
    docs = []
    for d in util.yaml_load_all(text):
        if d.get("kind", "").endswith("List") and "items" in d:
            docs.extend(d["items"])
        else:
            docs.append(d)
    return docs


def obj_path(k, obj, name=True):
    plural, namespaced = kclient.resource_for(obj["kind"], obj.get("apiVersion", "v1"))
    ns = (obj.get("metadata") or {}).get("namespace") or k.ns() if namespaced else None
    return plural, ns, kclient.resource_path(obj.get("apiVersion", "v1"), plural, ns,
                                             obj["metadata"]["name"] if name else None)


def display(obj):
    gv = obj.get("apiVersion", "v1")
    return "%s/%s" % (qualified_kind(gv, obj["kind"]), obj["metadata"]["name"])


def cmd_apply(k, f):
    if not f["filename"]:
        raise CmdError("error: must specify one of -f and -k")
    for path in f["filename"]:
        for obj in load_manifests(path):
            plural, ns, p = obj_path(k, obj)
            if ns and "namespace" not in obj["metadata"]:
                obj["metadata"]["namespace"] = ns
            last = json.dumps(obj, sort_keys=True)
            live = None
            try:
                live = k.api.get(p)
            except kclient.ApiError as e:
                if e.code != 404:
                    raise
            if live is None:
                annotations = obj["metadata"].setdefault("annotations", {})
                annotations["kubectl.kubernetes.io/last-applied-configuration"] = last + "\n"
                k.api.create(p.rsplit("/", 1)[0], obj)
                out("%s created" % display(obj))
                continue
            prev = ((live["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/last-applied-configuration")
                    or "").strip()
            if prev == last:
                out("%s unchanged" % display(obj))
                continue
            new = dict(live)
            for key, val in obj.items():
                if key not in ("metadata", "status"):
                    new[key] = val
            meta = dict(live["metadata"])
            for key in ("labels", "annotations"):
                if key in obj["metadata"] or key in meta:
                    meta[key] = dict(obj["metadata"].get(key) or {})
            meta.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = last + "\n"
            new["metadata"] = meta
            k.api.replace(p, new)
            out("%s configured" % display(obj))
    return 0


def cmd_create(k, f):
    for path in f["filename"]:
        for obj in load_manifests(path):
            plural, ns, p = obj_path(k, obj)
            k.api.create(p.rsplit("/", 1)[0], obj)
            out("%s created" % display(obj))
    return 0


def cmd_delete(k, f):
    if f["filename"]:
        failed = False
        for path in f["filename"]:
            for obj in reversed(load_manifests(path)):
                plural, ns, p = obj_path(k, obj)
                try:
                    k.api.delete(p)
                    out('%s "%s" deleted' % (qualified_kind(obj.get("apiVersion", "v1"), obj["kind"]),
                                             obj["metadata"]["name"]))
                except kclient.ApiError as e:
                    if e.code == 404 and f["ignore-not-found"]:
                        continue
                    sys.stderr.write(e.kubectl_text() + "\n")
                    failed = True
        return 1 if failed else 0
    if len(f.args) < 2:
        raise CmdError("error: resource(s) were provided, but no name was specified")
    plural, gv, kind, namespaced = resolve(f.args[0])
    rc = 0
    for name in f.args[1:]:
        try:
            k.api.delete(kclient.resource_path(gv, plural, k.ns() if namespaced else None, name))
            out('%s "%s" deleted' % (qualified_kind(gv, kind), name))
        except kclient.ApiError as e:
            if e.code == 404 and f["ignore-not-found"]:
                continue
            sys.stderr.write(e.kubectl_text() + "\n")
            rc = 1
    return rc


def node_status_text(node):
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    st = "Ready" if ready and ready.get("status") == "True" else ("NotReady" if ready else "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        st += ",SchedulingDisabled"
    return st


def node_roles(node):
    roles = sorted(k.split("/", 1)[1] for k in (node["metadata"].get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = []
    for r in [header] + rows:
        lines.append("   ".join(str(v).ljust(widths[i]) for i, v in enumerate(r)).rstrip())
    return "\n".join(lines)


def rows_for(plural, items, wide, all_ns):
    if plural == "nodes":
        header = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        if wide:
            header += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
        rows = []
        for n in items:
            info = (n.get("status") or {}).get("nodeInfo") or {}
            r = [n["metadata"]["name"], node_status_text(n), node_roles(n),
                 util.age(n["metadata"].get("creationTimestamp")), info.get("kubeletVersion", "")]
            if wide:
                addrs = {a["type"]: a["address"] for a in (n.get("status") or {}).get("addresses") or []}
                r += [addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"), info.get("osImage", ""),
                      info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]
            rows.append(r)
        return header, rows
    if plural == "pods":
        header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        if wide:
            header += ["IP", "NODE"]
        rows = []
        for p in items:
            cs = (p.get("status") or {}).get("containerStatuses") or []
            total = len((p.get("spec") or {}).get("containers") or [])
            ready = sum(1 for c in cs if c.get("ready"))
            phase = (p.get("status") or {}).get("phase", "Pending")
            waiting = [c["state"]["waiting"]["reason"] for c in cs if "waiting" in (c.get("state") or {})]
            r = [p["metadata"]["name"], "%d/%d" % (ready, total),
                 waiting[0] if waiting and phase == "Pending" else phase,
                 "0", util.age(p["metadata"].get("creationTimestamp"))]
            if wide:
                r += [(p.get("status") or {}).get("podIP") or "<none>",
                      (p.get("spec") or {}).get("nodeName") or "<none>"]
            rows.append(r)
        if all_ns:
            header = ["NAMESPACE"] + header
            rows = [[p["metadata"]["namespace"]] + r for p, r in zip(items, rows)]
        return header, rows
    if plural == "namespaces":
        return ["NAME", "STATUS", "AGE"], [[o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"),
                                            util.age(o["metadata"].get("creationTimestamp"))] for o in items]
    if plural == "daemonsets":
        header = ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"]
        rows = []
        for d in items:
            s = d.get("status") or {}
            sel = ",".join("%s=%s" % kv for kv in (((d.get("spec") or {}).get("template") or {}).get("spec", {})
                                                    .get("nodeSelector") or {}).items()) or "<none>"
            rows.append([d["metadata"]["name"], s.get("desiredNumberScheduled", 0), s.get("currentNumberScheduled", 0),
                         s.get("numberReady", 0), s.get("updatedNumberScheduled", 0), s.get("numberAvailable", 0), sel,
                         util.age(d["metadata"].get("creationTimestamp"))])
        if all_ns:
            header = ["NAMESPACE"] + header
            rows = [[o["metadata"]["namespace"]] + r for o, r in zip(items, rows)]
        return header, rows
    if plural == "deployments":
        header = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        rows = [[d["metadata"]["name"], "%d/%d" % ((d.get("status") or {}).get("readyReplicas", 0),
                                                   (d.get("spec") or {}).get("replicas", 1)),
                 (d.get("status") or {}).get("updatedReplicas", 0), (d.get("status") or {}).get("availableReplicas", 0),
                 util.age(d["metadata"].get("creationTimestamp"))] for d in items]
        if all_ns:
            header = ["NAMESPACE"] + header
            rows = [[o["metadata"]["namespace"]] + r for o, r in zip(items, rows)]
        return header, rows
    header = ["NAME", "AGE"]
    rows = [[o["metadata"]["name"], util.age(o["metadata"].get("creationTimestamp"))] for o in items]
    if plural == "configmaps":
        header = ["NAME", "DATA", "AGE"]
        rows = [[o["metadata"]["name"], len(o.get("data") or {}), util.age(o["metadata"].get("creationTimestamp"))]
                for o in items]
    if all_ns:
        header = ["NAMESPACE"] + header
        rows = [[o["metadata"].get("namespace", "")] + r for o, r in zip(items, rows)]
    return header, rows


def jsonpath(obj, expr):
    """A subset of kubectl's JSONPath: {.a.b}, {.items[*].x}, [n], [?(@.k=="v")], {range}...{end}, literals."""
    import re
    tokens = re.findall(r"\{[^}]*\}|[^{]+", expr)

    def evaluate(path, roots):
        path = path.strip()
        if path in ("", "."):
            return roots
        if path.startswith("$"):
            path = path[1:]
        parts = re.findall(r"\.\.?[^.\[]+|\[[^\]]*\]", path)
        cur = roots
        for p in parts:
            nxt = []
            for c in cur:
                if p.startswith("["):
                    inner = p[1:-1]
                    if isinstance(c, list):
                        if inner == "*":
                            nxt.extend(c)
                        elif inner.startswith("?("):
                            m = re.match(r"\?\(@\.([\w.\-/]+)\s*(==|!=)\s*[\"']?([^\"')]*)[\"']?\)", inner)
                            if m:
                                for item in c:
                                    v = evaluate("." + m.group(1), [item])
                                    v = str(v[0]) if v else None
                                    if (v == m.group(3)) == (m.group(2) == "=="):
                                        nxt.append(item)
                        else:
                            try:
                                nxt.append(c[int(inner)])
                            except (ValueError, IndexError):
                                pass
                    elif isinstance(c, dict) and inner.strip("'\"") in c:
                        nxt.append(c[inner.strip("'\"")])
                else:
                    key = p.lstrip(".")
                    if key == "*":
                        nxt.extend(c.values() if isinstance(c, dict) else c if isinstance(c, list) else [])
                    elif isinstance(c, dict) and key in c:
                        nxt.append(c[key])
            cur = nxt
        return cur

    def fmt(v):
        if isinstance(v, (dict, list)):
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    def render(toks, root):
        res = []
        j = 0
        while j < len(toks):
            t = toks[j]
            if t.startswith("{range"):
                depth, k = 1, j + 1
                while k < len(toks) and depth:
                    if toks[k].startswith("{range"):
                        depth += 1
                    elif toks[k] == "{end}":
                        depth -= 1
                    k += 1
                body = toks[j + 1:k - 1]
                for item in evaluate(t[6:-1], [root]):
                    res.append(render(body, item))
                j = k
                continue
            if t.startswith("{"):
                inner = t[1:-1]
                if inner.startswith('"') and inner.endswith('"'):
                    res.append(inner[1:-1].encode().decode("unicode_escape"))
                else:
                    res.append(" ".join(fmt(v) for v in evaluate(inner, [root])))
            else:
                res.append(t.encode().decode("unicode_escape"))
            j += 1
        return "".join(res)

    return render(tokens, obj)


def print_objects(objs, plural, f, single, all_ns=False, list_kind="List"):
    o = f["output"]
    if o in ("json", "yaml"):
        data = objs[0] if single else {"apiVersion": "v1", "kind": "List", "items": objs,
                                       "metadata": {"resourceVersion": ""}}
        out(json.dumps(data, indent=4) if o == "json" else util.yaml_dump(data).rstrip())
    elif o.startswith("jsonpath="):
        data = objs[0] if single else {"apiVersion": "v1", "kind": "List", "items": objs}
        sys.stdout.write(jsonpath(data, o[len("jsonpath="):].strip("'")))
    elif o == "name":
        for obj in objs:
            out("%s/%s" % (qualified_kind(kclient.RESOURCES[plural][0], kclient.RESOURCES[plural][1]),
                           obj["metadata"]["name"]))
    elif o in ("", "wide"):
        if not objs:
            ns_text = "" if all_ns or not kclient.RESOURCES[plural][2] else " in %s namespace" % f["namespace"] \
                if f["namespace"] else " in default namespace"
            sys.stderr.write("No resources found%s.\n" % ns_text)
            return
        header, rows = rows_for(plural, objs, o == "wide", all_ns)
        out(table(rows, header) if not f["no-headers"] else table(rows, [""] * len(header)).split("\n", 1)[-1])
    else:
        raise CmdError('error: unable to match a printer suitable for the output format "%s"' % o)


def cmd_get(k, f):
    if f["filename"]:
        objs, plural = [], None
        for path in f["filename"]:
            for obj in load_manifests(path):
                plural, ns, p = obj_path(k, obj)
                objs.append(k.api.get(p))
        if f["output"] == "name":
            for obj in objs:
                out(display(obj))
        elif objs:
            print_objects(objs, plural, f, single=len(objs) == 1 and f["output"] in ("json", "yaml"))
        return 0
    if not f.args:
        raise CmdError("You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete "
                       "list of supported resources.\n\nerror: Required resource not specified.")
    kinds = f.args[0].split(",")
    names = f.args[1:]
    if "/" in f.args[0]:
        kind, _, nm = f.args[0].partition("/")
        kinds, names = [kind], [nm] + names
    rc = 0
    for kind in kinds:
        plural, gv, _, namespaced = resolve(kind)
        ns = None if not namespaced or f["all-namespaces"] else k.ns()
        if names:
            objs = []
            for name in names:
                try:
                    objs.append(k.api.get(kclient.resource_path(gv, plural, ns, name)))
                except kclient.ApiError as e:
                    if e.code == 404 and f["ignore-not-found"]:
                        continue
                    sys.stderr.write(e.kubectl_text() + "\n")
                    rc = 1
            if objs:
                print_objects(objs, plural, f, single=len(names) == 1, all_ns=False)
        else:
            res = k.api.get(kclient.resource_path(gv, plural, ns), labelSelector=f["selector"] or None,
                            fieldSelector=f["field-selector"] or None)
            print_objects(res.get("items", []), plural, f, single=False, all_ns=f["all-namespaces"] and namespaced)
    return rc


def set_unschedulable(k, name, value):
    node = k.api.get("/api/v1/nodes/" + name)
    if bool((node.get("spec") or {}).get("unschedulable")) == value:
        out("node/%s already %s" % (name, "cordoned" if value else "uncordoned"))
        return
    k.api.patch("/api/v1/nodes/" + name, {"spec": {"unschedulable": True if value else None}})
    out("node/%s %s" % (name, "cordoned" if value else "uncordoned"))


def cmd_cordon(k, f, value):
    if not f.args:
        raise CmdError("error: USAGE: %s NODE [flags]" % ("cordon" if value else "uncordon"))
    for name in f.args:
        set_unschedulable(k, name, value)
    return 0


def cmd_drain(k, f):
    if not f.args:
        raise CmdError("error: USAGE: drain NODE [flags]")
    name = f.args[0]
    set_unschedulable(k, name, True)
    pods = k.api.get("/api/v1/pods", fieldSelector="spec.nodeName=" + name)["items"]
    ds, mirror, unmanaged, evict = [], [], [], []
    for p in pods:
        refs = p["metadata"].get("ownerReferences") or []
        ref = "%s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"])
        if "kubernetes.io/config.mirror" in (p["metadata"].get("annotations") or {}):
            mirror.append(ref)
        elif any(r.get("kind") == "DaemonSet" for r in refs):
            ds.append(ref)
        elif not refs:
            unmanaged.append(ref)
            evict.append(p)
        else:
            evict.append(p)
    errors = []
    if ds and not f["ignore-daemonsets"]:
        errors.append("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): " + ", ".join(ds))
    if unmanaged and not f["force"]:
        errors.append("cannot delete Pods that declare no controller (use --force to override): "
                      + ", ".join(unmanaged))
    if errors:
        raise CmdError("error: unable to drain node \"%s\" due to error: %s, continuing command...\nThere are pending "
                       "nodes to be drained:\n %s\nerror: %s" % (name, "; ".join(errors), name, "\n".join(errors)))
    if ds:
        sys.stderr.write("Warning: ignoring DaemonSet-managed Pods: %s\n" % ", ".join(ds))
    if unmanaged:
        sys.stderr.write("Warning: deleting Pods that declare no controller: %s\n" % ", ".join(unmanaged))
    for p in evict:
        out("evicting pod %s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"]))
    for p in evict:
        try:
            k.api.delete("/api/v1/namespaces/%s/pods/%s" % (p["metadata"]["namespace"], p["metadata"]["name"]))
        except kclient.ApiError as e:
            if e.code != 404:
                raise
        out("pod/%s evicted" % p["metadata"]["name"])
    out("node/%s drained" % name)
    return 0


def cmd_label(k, f):
    if len(f.args) < 2:
        raise CmdError("error: one or more resources must be specified as <resource> <name> or <resource>/<name>")
    plural, gv, kind, namespaced = resolve(f.args[0])
    name = f.args[1]
    labels = {}
    for kv in f.args[2:]:
        if kv.endswith("-"):
            labels[kv[:-1]] = None
        else:
            key, _, val = kv.partition("=")
            labels[key] = val
    p = kclient.resource_path(gv, plural, k.ns() if namespaced else None, name)
    cur = (k.api.get(p)["metadata"].get("labels") or {})
    for key, val in labels.items():
        if val is not None and key in cur and cur[key] != val and not f["overwrite"]:
            raise CmdError("error: '%s' already has a value (%s), and --overwrite is false" % (key, cur[key]))
    k.api.patch(p, {"metadata": {"labels": labels}})
    out("%s/%s %s" % (qualified_kind(gv, kind), name, "labeled" if any(v is not None for v in labels.values())
                      else "unlabeled"))
    return 0


def cmd_taint(k, f):
    if len(f.args) < 3:
        raise CmdError("error: at least one taint update is required")
    target = f.args[1]
    specs = f.args[2:]
    nodes = [n["metadata"]["name"] for n in k.api.get("/api/v1/nodes")["items"]] if target == "--all" or f["all"] \
        else [target]
    if f["all"]:
        specs = f.args[1:]
    for name in nodes:
        node = k.api.get("/api/v1/nodes/" + name)
        taints = list((node.get("spec") or {}).get("taints") or [])
        changed = False
        for s in specs:
            remove = s.endswith("-")
            s = s.rstrip("-")
            kv, _, effect = s.partition(":")
            key, _, val = kv.partition("=")
            if remove:
                new = [t for t in taints if not (t["key"] == key and (not effect or t.get("effect") == effect))]
                if len(new) == len(taints):
                    raise CmdError('error: taint "%s" not found' % s)
                taints, changed = new, True
            else:
                t = {"key": key, "effect": effect}
                if val:
                    t["value"] = val
                taints = [x for x in taints if not (x["key"] == key and x.get("effect") == effect)] + [t]
                changed = True
        if changed:
            k.api.patch("/api/v1/nodes/" + name, {"spec": {"taints": taints or None}})
        out("node/%s %s" % (name, "untainted" if all(s.endswith("-") for s in specs) else "tainted"))
    return 0


def cmd_wait(k, f):
    cond = f["for"]
    if not cond:
        raise CmdError("error: --for must be specified")
    timeout = util.parse_duration(f["timeout"])
    plural, gv, kind, namespaced = resolve(f.args[0].split("/")[0])
    names = f.args[1:] if "/" not in f.args[0] else [f.args[0].split("/", 1)[1]]
    ns = k.ns() if namespaced else None
    deadline = time.monotonic() + timeout

    def targets():
        if f["all"] or not names:
            return k.api.get(kclient.resource_path(gv, plural, ns), labelSelector=f["selector"] or None)["items"]
        return [k.api.get(kclient.resource_path(gv, plural, ns, n)) for n in names]

    def met(obj):
        if cond == "delete":
            return False
        if cond.startswith("condition="):
            ctype, _, want = cond[len("condition="):].partition("=")
            want = want or "True"
            return any(c.get("type", "").lower() == ctype.lower() and str(c.get("status")).lower() == want.lower()
                       for c in (obj.get("status") or {}).get("conditions") or [])
        if cond.startswith("jsonpath="):
            expr, _, want = cond[len("jsonpath="):].partition("=")
            return jsonpath(obj, expr if expr.startswith("{") else "{%s}" % expr) == want
        raise CmdError("error: unrecognized condition: \"%s\"" % cond)

    done = set()
    while True:
        try:
            objs = targets()
        except kclient.ApiError as e:
            if cond == "delete" and e.code == 404:
                for n in names:
                    out('%s/%s condition met' % (qualified_kind(gv, kind), n))
                return 0
            raise
        if not objs and not names:
            raise CmdError("error: no matching resources found")
        for o in objs:
            n = o["metadata"]["name"]
            if n not in done and met(o):
                done.add(n)
                out("%s/%s condition met" % (qualified_kind(gv, kind), n))
        if objs and all(o["metadata"]["name"] in done for o in objs):
            return 0
        if time.monotonic() >= deadline:
            pending = [o["metadata"]["name"] for o in objs if o["metadata"]["name"] not in done]
            raise CmdError("error: timed out waiting for the condition on %s/%s" % (plural, pending[0]))
        time.sleep(1)


def cmd_version(k, f):
    info = common.version_info()
    data = {"clientVersion": info, "kustomizeVersion": KUSTOMIZE}
    server = None
    err = None
    if not f["client"]:
        try:
            server = k.api.get("/version")
            data["serverVersion"] = server
        except (kclient.ConnectError, kclient.ApiError) as e:
            err = e
    if f["output"] == "json":
        out(json.dumps(data, indent=2))
    elif f["output"] == "yaml":
        out(util.yaml_dump(data).rstrip())
    else:
        out("Client Version: %s" % info["gitVersion"])
        out("Kustomize Version: %s" % KUSTOMIZE)
        if server:
            out("Server Version: %s" % server["gitVersion"])
    if err:
        sys.stderr.write(err.kubectl_text() + "\n")
        return 1
    return 0


def cmd_cluster_info(k, f):
    k.api.get("/version")
    out("Kubernetes control plane is running at %s" % k.api.server)
    out("CoreDNS is running at %s/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy" % k.api.server)
    out("")
    out("To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.")
    return 0


def cmd_config(k, f):
    sub = f.args[0] if f.args else ""
    path = f["kubeconfig"] or kclient.default_kubeconfig_path()
    if sub == "view":
        text = util.read_text(path, "")
        cfg = util.yaml_load_all(text)[0] if text else {}
        if not f["raw"]:
            for u in cfg.get("users") or []:
                for key in ("client-certificate-data", "client-key-data", "token"):
                    if key in (u.get("user") or {}):
                        u["user"][key] = "DATA+OMITTED" if key != "token" else "REDACTED"
            for c in cfg.get("clusters") or []:
                if "certificate-authority-data" in (c.get("cluster") or {}):
                    c["cluster"]["certificate-authority-data"] = "DATA+OMITTED"
        out(util.yaml_dump(cfg).rstrip())
        return 0
    if sub == "current-context":
        cfg = kclient.load_kubeconfig(path)
        out(cfg.get("current-context", ""))
        return 0
    raise CmdError('error: unknown command "%s"' % sub)


FLAGS = {"kubeconfig": "", "namespace": "", "all-namespaces": False, "output": "", "filename": [], "selector": "",
         "field-selector": "", "ignore-not-found": False, "ignore-daemonsets": False, "delete-emptydir-data": False,
         "force": False, "timeout": "30s", "grace-period": -1, "client": False, "for": "", "all": False,
         "overwrite": False, "context": "", "server": "", "request-timeout": "0", "v": "0", "no-headers": False,
         "raw": False, "wait": True, "disable-eviction": False, "delete-local-data": False, "recursive": False,
         "server-side": False, "validate": "true", "short": False, "help": False, "show-labels": False,
         "insecure-skip-tls-verify": False, "dry-run": "none", "pod-selector": ""}
SHORT = {"n": "namespace", "A": "all-namespaces", "o": "output", "f": "filename", "l": "selector", "v": "v",
         "h": "help", "R": "recursive"}


def main(argv):
    f = util.Flags(FLAGS, SHORT)
    try:
        f.parse(argv)
    except util.UsageError as e:
        sys.stderr.write("error: %s\nSee 'kubectl --help' for usage.\n" % e)
        return 1
    if not f.args:
        out("kubectl controls the Kubernetes cluster manager.\n\nUsage:\n  kubectl [flags] [options]")
        return 0
    cmd, f.args = f.args[0], f.args[1:]
    k = Kubectl(f)
    handlers = {"get": cmd_get, "apply": cmd_apply, "create": cmd_create, "delete": cmd_delete,
                "cordon": lambda k, f: cmd_cordon(k, f, True), "uncordon": lambda k, f: cmd_cordon(k, f, False),
                "drain": cmd_drain, "label": cmd_label, "taint": cmd_taint, "wait": cmd_wait,
                "version": cmd_version, "cluster-info": cmd_cluster_info, "config": cmd_config}
    if cmd not in handlers:
        sys.stderr.write('error: unknown command "%s" for "kubectl"\n' % cmd)
        return 1
    try:
        return handlers[cmd](k, f)
    except CmdError as e:
        sys.stderr.write(str(e) + "\n")
        return 1
    except kclient.ApiError as e:
        sys.stderr.write(e.kubectl_text() + "\n")
        return 1
    except kclient.ConnectError as e:
        sys.stderr.write(e.kubectl_text() + "\n")
        return 1
    except ValueError as e:
        sys.stderr.write("error: %s\n" % e)
        return 1
