"""A workload's drift: what differs between the objects as its node applies them and as they are live.

Which objects drifted is the API server's word (kubectl apply's dry run: `configured`, or `created` for one
deleted since); the fields named for each are those its manifest sets whose live value differs (fields the manifest
leaves out, which the server fills in, never count). Plain Python (no host, no Cloudify). A Secret's values are
never told, only which of its keys differ.
"""
from .model import SECRET_KINDS

SHOWN_VALUE_CHARS = 40


def differences(applied, live, path=""):
    """[(path, applied value, live value)] for each field `applied` sets that `live` holds otherwise."""
    if isinstance(applied, dict):
        if not isinstance(live, dict):
            return [(path, applied, live)]
        found = []
        for key, value in applied.items():
            found += differences(value, live.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(applied, list):
        if not isinstance(live, list) or len(live) != len(applied):
            return [(path, applied, live)]
        return [d for i, (a, l_) in enumerate(zip(applied, live)) for d in differences(a, l_, f"{path}[{i}]")]
    same = applied == live or (live is not None and not isinstance(live, (dict, list)) and str(applied) == str(live))
    return [] if same else [(path, applied, live)]


def _shown(value):
    text = "missing" if value is None else str(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS - 3] + "..."


def described(ref, applied, live):
    """One line on how an object differs from what was applied: `Deployment default/web: spec.replicas applied
    3, live 1`, or that it is gone."""
    if live is None:
        return f"{ref.label}: gone (deleted since it was applied)"
    found = differences(applied, live)
    if ref.kind in SECRET_KINDS:
        fields = [path for path, _, _ in found]
    else:
        fields = [f"{path} applied {_shown(a)}, live {_shown(l_)}" for path, a, l_ in found]
    return f"{ref.label}: {'; '.join(fields) if fields else 'differs (as the API server merges it)'}"


def drifted(kubectl_lines, refs):
    """The refs that kubectl's dry-run lines (`deployment.apps/web configured`, `configmap/x created`) name."""
    named = set()
    for line in kubectl_lines:
        resource, _, rest = line.partition(" ")[0].partition("/")
        named.add((resource.split(".")[0], rest))
    return [ref for ref in refs if (ref.kind.lower(), ref.name) in named]
