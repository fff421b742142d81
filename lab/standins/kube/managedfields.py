"""Field ownership (metadata.managedFields) as kube-apiserver's field manager keeps it, and server-side apply's
conflicts.

A field set is a set of paths, each a tuple of fieldsV1 keys (`f:spec`, `k:{"name":"web"}`); a map or a list
item that has children is a path too (`.` in fieldsV1). Every write records its field manager: the one
named by `fieldManager`, else the client's user agent up to its first `/`. An update (create, PUT, patch:
operation Update) takes the fields it changed from everyone else and owns them; an apply (operation Apply)
owns what it applied, and refuses to change a field another manager owns (409 Conflict, listing each) unless
forced, when it takes it over. Fields an apply no longer applies are removed unless someone else owns them.
Status and the object's identity (name, uid, resourceVersion, ...) are nobody's; subresource writes leave the
record as it is. Not kept: versions of a field set per API version (one version per kind here).
"""
import json

from kube import patches

IDENTITY = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
            "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}
ATOMIC = {"selector"}   # metav1.LabelSelector and a Service's selector: owned whole (+structType/mapType=atomic)
NODE = object()         # the value of a map or list item path: compared by presence, not by value


def values(obj, path=()):
    """{path: value} of every field an object sets (NODE for maps and list items with children)."""
    out = {}
    for k, v in (obj or {}).items():
        if not path and k in ("apiVersion", "kind", "status"):
            continue
        if path == ("f:metadata",) and k in IDENTITY:
            continue
        here = path + ("f:" + k,)
        key = patches.merge_key(k, [p[2:] for p in path if p.startswith("f:")])
        if isinstance(v, dict) and v and k not in ATOMIC:
            inner = values(v, here)
            if inner or path:   # metadata with nothing but the object's identity is nobody's
                out[here] = NODE
                out.update(inner)
        elif isinstance(v, list) and key and v and all(isinstance(i, dict) and key in i for i in v):
            out[here] = NODE
            for item in v:
                at = here + ("k:" + json.dumps({key: item[key]}, separators=(",", ":")),)
                out[at] = NODE
                out.update(values(item, at))
        else:
            out[here] = v
    return out


def paths(fields_v1, path=()):
    """fieldsV1 -> a set of paths."""
    out = set()
    for k, sub in (fields_v1 or {}).items():
        if k == ".":
            out.add(path)
            continue
        out.add(path + (k,))
        out |= paths(sub, path + (k,))
    return out


def fields_v1(field_set):
    """A set of paths -> fieldsV1 (a path with children gets `.`)."""
    tree = {}
    for p in sorted(field_set):
        node = tree
        for k in p:
            node = node.setdefault(k, {})
    def mark(node, path):
        for k, sub in node.items():
            if sub and path + (k,) in field_set:
                sub.setdefault(".", {})
            mark(sub, path + (k,))
    mark(tree, ())
    return tree


def changes(before, after):
    """(changed: added or modified, removed) between two objects' values."""
    old, new = values(before), values(after)
    changed = {p for p, v in new.items() if p not in old or (v is not NODE and old[p] != v)}
    return changed, set(old) - set(new)


def identity(entry):
    """A manager as kube-apiserver tells them apart: appliers by name, updaters by name, version, subresource."""
    if entry.get("operation") == "Apply":
        return (entry.get("manager"), "Apply")
    return (entry.get("manager"), "Update", entry.get("apiVersion"), entry.get("subresource", ""))


def entry(manager, operation, api_version, field_set, now):
    return {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
            "fieldsType": "FieldsV1", "fieldsV1": fields_v1(field_set)}


def recorded(managed, me, mine, changed, removed, now, take):
    """managedFields after a write by `me` (an entry without fields) owning `mine`: others lose `take` and
    `removed`; empty entries go. A write that changed nothing keeps the time of its manager's entry."""
    out, key = [], identity(me)
    for m in managed or []:
        if identity(m) == key:
            if not changed and not removed and paths(m.get("fieldsV1")) == mine:
                now = m.get("time", now)
            continue
        owned = paths(m.get("fieldsV1"))
        kept = owned - take - removed
        if kept != owned:
            m = dict(m, fieldsV1=fields_v1(kept))
        if kept:
            out.append(m)
    if mine:
        out.append(entry(me["manager"], me["operation"], me["apiVersion"], mine, now))
    return out


def update(managed, manager, api_version, before, after, now):
    """managedFields after an Update by `manager` of `before` (None: a create) into `after`."""
    changed, removed = changes(before or {}, after)
    me = {"manager": manager, "operation": "Update", "apiVersion": api_version}
    current = next((m for m in managed or [] if identity(m) == identity(me)), None)
    mine = (paths(current.get("fieldsV1")) if current else set()) - removed | changed
    return recorded(managed, me, mine, changed, removed, now, changed)


def conflicts(managed, manager, before, after):
    """[(identity, path)] of fields another manager owns that an apply by `manager` would change."""
    changed, _ = changes(before, after)
    me = identity({"manager": manager, "operation": "Apply"})
    return sorted((identity(m), p) for m in managed or [] if identity(m) != me
                  for p in paths(m.get("fieldsV1")) & changed if p)


def apply(managed, manager, api_version, before, after, applied, now):
    """managedFields after a (forced where it conflicts) apply: the applier owns what it applied."""
    changed, removed = changes(before, after)
    me = {"manager": manager, "operation": "Apply", "apiVersion": api_version}
    return recorded(managed, me, set(values(applied)), changed, removed, now, changed)


def prune(obj, managed, manager, applied):
    """Remove from obj what `manager` applied before and applies no longer, unless another manager owns it
    (or something under it)."""
    me = identity({"manager": manager, "operation": "Apply"})
    previous = next((paths(m.get("fieldsV1")) for m in managed or [] if identity(m) == me), set())
    others = set().union(*[paths(m.get("fieldsV1")) for m in managed or [] if identity(m) != me])
    gone = previous - set(values(applied))
    for p in sorted(gone, key=len):
        if not any(o[:len(p)] == p for o in others):
            drop(obj, p)
    return obj


def drop(obj, path):
    """Delete the field or list item at path, if it is there."""
    parent, last = obj, path[-1]
    for k in path[:-1]:
        parent = step(parent, k)
        if parent is None:
            return
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        (key, value), = json.loads(last[2:]).items()
        parent[:] = [i for i in parent if not (isinstance(i, dict) and i.get(key) == value)]


def step(node, k):
    if k.startswith("f:") and isinstance(node, dict):
        return node.get(k[2:])
    if k.startswith("k:") and isinstance(node, list):
        (key, value), = json.loads(k[2:]).items()
        return next((i for i in node if isinstance(i, dict) and i.get(key) == value), None)
    return None


def path_text(path):
    """A path as the server prints it in a conflict: `.spec.template.spec.containers[name="web"].image`."""
    out = ""
    for k in path:
        if k.startswith("f:"):
            out += "." + k[2:]
        else:
            out += "[%s]" % ",".join("%s=%s" % (n, json.dumps(v)) for n, v in sorted(json.loads(k[2:]).items()))
    return out


def manager_text(ident):
    """printManager: `"kubectl"` for an applier, `"kubectl-client-side-apply" using v1` for an updater."""
    text = json.dumps(ident[0])
    if ident[1] == "Update":
        if ident[3]:
            text += " with subresource %s" % json.dumps(ident[3])
        text += " using %s" % ident[2]
    return text


def conflict_status(found):
    """(message, details) of the 409 Conflict of an apply (the field manager's NewConflictError)."""
    causes = [{"reason": "FieldManagerConflict", "message": "conflict with %s" % manager_text(ident),
               "field": path_text(p)} for ident, p in found]
    if len(found) == 1:
        ident, p = found[0]
        return "Apply failed with 1 conflict: conflict with %s: %s" % (manager_text(ident), path_text(p)), \
            {"causes": causes}
    lines = []
    for ident in sorted({i for i, _ in found}, key=lambda i: json.dumps(
            {"manager": i[0], "operation": i[1]} | ({"apiVersion": i[2]} if i[1] == "Update" else {}))):
        lines.append("conflicts with %s:" % manager_text(ident))
        lines += ["- %s" % path_text(p) for i, p in found if i == ident]
    return "Apply failed with %d conflicts: %s" % (len(found), "\n".join(lines)), {"causes": causes}
