"""The API server's patch types: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
(also server-side apply's merge), over plain JSON objects.

Strategic merge knows the merge keys of the built-in types' lists by field name (containers by name, ports
by containerPort, ...), as the Go types declare them; other lists are replaced whole.
"""
import copy

# list field -> merge key (patchStrategy=merge in the Go types); None: a merged list of primitives
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey", "conditions": "type",
    "addresses": "type", "ownerReferences": "uid", "finalizers": None, "resourceClaims": "name",
    "podIPs": "ip", "secrets": "name", "images": None,
}


class PatchError(Exception):
    """A patch that cannot be applied (the server answers 422 or 400)."""


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def json_patch(target, ops):
    """RFC 6902 JSON patch."""
    doc = copy.deepcopy(target)
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        try:
            for p in parts[:-1]:
                parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        except (KeyError, IndexError, ValueError):
            raise PatchError("doc is missing path: %s" % op["path"])
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(idx, op["value"])
            elif kind == "replace":
                parent[idx] = op["value"]
            elif kind == "remove":
                del parent[idx]
            elif kind == "test" and parent[idx] != op.get("value"):
                raise PatchError("testing value %s failed" % op["path"])
        else:
            if kind == "add":
                parent[last] = op["value"]
            elif kind == "replace":
                if last not in parent:
                    raise PatchError("replace operation does not apply: doc is missing key: %s" % op["path"])
                parent[last] = op["value"]
            elif kind == "remove":
                if last not in parent:
                    raise PatchError("remove operation does not apply: doc is missing path: %s" % op["path"])
                del parent[last]
            elif kind == "test" and parent.get(last) != op.get("value"):
                raise PatchError("testing value %s failed" % op["path"])
    return doc


def merge_key(field, parent_path):
    if field == "ports":  # a container's ports merge on containerPort, a Service's on port
        return "containerPort" if parent_path[-1:] in (["containers"], ["initContainers"]) else "port"
    return MERGE_KEYS.get(field, False)


def strategic_merge(target, patch, path=()):
    """Strategic merge patch of a dict: directives $patch, $retainKeys, $setElementOrder/<list>,
    $deleteFromPrimitiveList/<list>; lists with a merge key are merged item by item."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in v]
            continue
        if v is None:
            result.pop(k, None)
            continue
        key = merge_key(k, list(path))
        if isinstance(v, list) and key is not False and isinstance(result.get(k), list):
            result[k] = _merge_list(result[k], v, key, list(path) + [k])
            order = patch.get("$setElementOrder/" + k)
            if order and key:
                result[k] = _order(result[k], order, key)
        elif isinstance(v, dict):
            merged = strategic_merge(result.get(k), v, tuple(path) + (k,))
            if merged is None:
                result.pop(k, None)
            else:
                result[k] = merged
        else:
            result[k] = copy.deepcopy(v)
    if retain is not None:
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current, patch, key, path):
    if key is None:  # primitives: union, in order
        out = list(current)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    out = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            if isinstance(item, dict) and item.get("$patch") == "replace":
                return [dict((k, v) for k, v in i.items() if k != "$patch") for i in patch if isinstance(i, dict)]
            continue
        idx = next((i for i, c in enumerate(out) if isinstance(c, dict) and c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
        elif idx is None:
            out.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            out[idx] = strategic_merge(out[idx], item, tuple(path))
    return out


def _order(items, order, key):
    rank = {o.get(key): i for i, o in enumerate(order) if isinstance(o, dict)}
    return sorted(items, key=lambda x: rank.get(x.get(key), len(rank)) if isinstance(x, dict) else len(rank))
