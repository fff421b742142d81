"""Every object kub applies carries the annotation OWNER_ANNOTATION naming its node (`<deployment>/<node
instance>`): kub changes or deletes only objects that carry its own node's name, and refuses to apply over an
object someone else made."""
from .model import placed

OWNER_ANNOTATION = "kub/workload"


def owned(objects, owner):
    """The objects as kub applies them: each with its namespace set and the owner annotation."""
    out = placed(objects)
    for obj in out:
        meta = obj["metadata"]
        meta["annotations"] = {**(meta.get("annotations") or {}), OWNER_ANNOTATION: owner}
    return out


def owner_of(live):
    return ((live.get("metadata") or {}).get("annotations") or {}).get(OWNER_ANNOTATION, "")


def strangers(refs, live, owner):
    """The refs whose live objects exist and were not made by this owner."""
    return [ref for ref in refs if ref in live and owner_of(live[ref]) != owner]
