"""Settings named as the user wrote them: kub's messages name node properties (`cluster.containerd_source`,
`ssh.port`), but a blueprint may give a property from an input (`containerd_source: {get_input:
containerd_source}`), and then the input is what the user sets. The blueprint's own nodes, before inputs are put
in, say which property comes from which input."""
import re


def input_names(raw_nodes, first_node_id=""):
    """{property path: what the user sets for it} for properties the blueprint gives from an input: the input's
    name (`ssh.port` -> `ssh_port`; `ssh.port` -> `ssh.port` where the whole `ssh` is an input `ssh`).
    `raw_nodes` are the blueprint's nodes as written (their properties' get_input unevaluated); the node
    `first_node_id`'s own mapping wins where nodes differ."""
    names = {}
    for node in sorted(raw_nodes, key=lambda n: n.get("id") != first_node_id):
        for path, name in _inputs_of(node.get("properties") or {}, ""):
            names.setdefault(path, name)
    return names


def _inputs_of(value, path):
    if isinstance(value, dict):
        given = value.get("get_input") if len(value) == 1 else None
        if isinstance(given, str):
            yield path, given
        elif isinstance(given, list) and given and all(isinstance(part, (str, int)) for part in given):
            yield path, ".".join(map(str, given))
        else:
            for key, inner in value.items():
                yield from _inputs_of(inner, f"{path}.{key}" if path else str(key))


def as_written(message, names):
    """The message with each property path that comes from an input named by that input (a path inside an input's
    value keeps its rest: input `ssh` + `.port`). Only dotted paths: a bare word (`ip`) may be plain English."""
    def rename(match):
        path = match.group(0)
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            name = names.get(".".join(parts[:end]))
            if name is not None:
                return ".".join([name, *parts[end:]])
        return path
    known = sorted({path.split(".")[0] for path in names}, key=len, reverse=True)
    if not known:
        return message
    pattern = rf"(?<![\w./-])(?:{'|'.join(map(re.escape, known))})(?:\.[A-Za-z_][\w]*)+(?![\w/-])"
    return re.sub(pattern, rename, message)
