"""The parameters of the kub_* workflows, as data: what each workflow takes, and the check of each parameter.

Plain Python (no host, no Cloudify). Every workflow checks all of its parameters here before it connects to
anything, and a bad one is a one-line ConfigError naming the workflow, the cluster node, the problem and the fix.
"""
import re
from dataclasses import dataclass

from ..errors import ConfigError

# DNS-1123 label (namespaces), DNS-1035 label (names kubectl create/expose also use as a Service name or label
# value), DNS-1123 subdomain (names of existing objects and nodes), IANA service name (a named target port)
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_NEW_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_PORT_NAME = re.compile(r"(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")

# kinds the workflows name, as kubectl's resource names (what `kubectl api-resources` lists for them)
KINDS = {
    "configmap": "configmaps", "cronjob": "cronjobs.batch", "daemonset": "daemonsets.apps",
    "deployment": "deployments.apps", "endpoints": "endpoints", "event": "events", "ingress": "ingresses",
    "job": "jobs.batch", "namespace": "namespaces", "networkpolicy": "networkpolicies", "node": "nodes",
    "persistentvolume": "persistentvolumes", "persistentvolumeclaim": "persistentvolumeclaims", "pod": "pods",
    "poddisruptionbudget": "poddisruptionbudgets", "replicaset": "replicasets.apps", "role": "roles",
    "rolebinding": "rolebindings", "secret": "secrets", "service": "services", "serviceaccount": "serviceaccounts",
    "statefulset": "statefulsets.apps",
}
# a kind may be given as its name in any case (Deployment), or plural (deployments)
_KIND_NAMES = {**{kind: kind for kind in KINDS}, **{resource.split(".")[0]: kind for kind, resource in KINDS.items()}}
# nodes leave a cluster with the uninstall of their kub node (which drains them first), not by a delete
DELETABLE_KINDS = {kind for kind in KINDS if kind != "node"}
SCALABLE_KINDS = ("deployment", "statefulset")
SERVICE_TYPES = ("ClusterIP", "NodePort")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Check:
    """One parameter's check: `convert` returns the value to use, or None when the value is bad (then the
    message says what a good one `wants`, with an example). `type` is its type in plugin.yaml, which cfy
    checks first (kub checks again: a manager's or a hand-written call may bring anything); a required one has
    no default there, so cfy refuses a call without it."""
    convert: object
    wants: str
    example: str
    required: bool = True
    type: str = "string"


def _integer(value, low, high):
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value)
    return value if isinstance(value, int) and low <= value <= high else None


def _matching(pattern, limit=None):
    def convert(value):
        return value if isinstance(value, str) and pattern.fullmatch(value) and \
            (limit is None or len(value) <= limit) else None
    return convert


def _kind(allowed):
    def convert(value):
        kind = _KIND_NAMES.get(value.lower()) if isinstance(value, str) else None
        return kind if kind in allowed else None
    return convert


def _one_of(choices):
    return lambda value: value if value in choices else None


def _target_port(value):
    port = _integer(value, 1, 65535)
    return port if port is not None else _matching(_PORT_NAME)(value)


def _node_names(value):
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and _SUBDOMAIN.fullmatch(n)
                                                           for n in names):
        return None
    return list(dict.fromkeys(names))


def _boolean(value):
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value if isinstance(value, bool) else None


def _manifest(value):
    if isinstance(value, (dict, list)) and value:
        return value
    return value if isinstance(value, str) and value.strip() else None


NAMESPACE = Check(_matching(_LABEL), "is not a namespace name: use lower case letters, digits and '-' (at most 63)",
                  '"shop"')
NEW_NAME = Check(_matching(_NEW_NAME), "is not a name kubectl can give it: use lower case letters, digits and "
                 "'-', starting with a letter (at most 63)", '"web"')
OBJECT_NAME = Check(_matching(_SUBDOMAIN), "is not a Kubernetes object name: use lower case letters, digits, '-' "
                    "and '.'", '"web"')
IMAGE = Check(_matching(_IMAGE, 512), "is not a container image reference", '"nginx:1.27"')
REPLICAS = Check(lambda v: _integer(v, 0, 100000), "must be a whole number, 0 or more", "3", type="integer")
PORT = Check(lambda v: _integer(v, 1, 65535), "must be a port number from 1 to 65535", "80", type="integer")
TARGET_PORT = Check(_target_port, "must be a port number from 1 to 65535 or a container port's name", '"8080"',
                    required=False)
CONTAINER_PORT = Check(PORT.convert, PORT.wants, PORT.example, required=False, type="integer")
SERVICE_TYPE = Check(_one_of(SERVICE_TYPES), f"is not a Service type kub makes: use {' or '.join(SERVICE_TYPES)}",
                     '"NodePort"')
SCALABLE_KIND = Check(_kind(SCALABLE_KINDS), f"cannot be scaled here: use {' or '.join(SCALABLE_KINDS)}",
                      '"statefulset"')
KIND = Check(_kind(KINDS), f"is not a kind kub knows: use one of {', '.join(sorted(KINDS))}", '"deployment"')
DELETABLE_KIND = Check(_kind(DELETABLE_KINDS), f"is not a kind kub deletes: use one of "
                       f"{', '.join(sorted(DELETABLE_KINDS))}", '"deployment"', required=False)
NODE_NAMES = Check(_node_names, "must be a list of Kubernetes node names (as kubectl get nodes lists them)",
                   '["kubh2"]', type="list")
MANIFEST = Check(_manifest, "must be a path (relative to the blueprint, or absolute), a URL, or YAML",
                 '"web.yaml"')
OPTIONAL_NAME = Check(OBJECT_NAME.convert, OBJECT_NAME.wants, OBJECT_NAME.example, required=False)
OPTIONAL_MANIFEST = Check(MANIFEST.convert, MANIFEST.wants, MANIFEST.example, required=False)
DRY_RUN = Check(_boolean, "must be true or false", "true", required=False, type="boolean")

# what each workflow takes besides node_id and namespace (which all take); every one that changes the cluster takes
# dry_run (the API server's dry run: what would change is told, nothing changes)
WORKFLOWS = {
    "kub_apply": {"manifest": MANIFEST, "dry_run": DRY_RUN},
    "kub_delete": {"kind": DELETABLE_KIND, "name": OPTIONAL_NAME, "manifest": OPTIONAL_MANIFEST, "dry_run": DRY_RUN},
    "kub_run": {"name": NEW_NAME, "image": IMAGE, "replicas": REPLICAS, "port": CONTAINER_PORT, "dry_run": DRY_RUN},
    "kub_expose": {"name": NEW_NAME, "port": PORT, "target_port": TARGET_PORT, "type": SERVICE_TYPE,
                   "dry_run": DRY_RUN},
    "kub_scale": {"name": OBJECT_NAME, "replicas": REPLICAS, "kind": SCALABLE_KIND, "dry_run": DRY_RUN},
    "kub_rollout_restart": {"name": OBJECT_NAME, "dry_run": DRY_RUN},
    "kub_drain": {"nodes": NODE_NAMES, "dry_run": DRY_RUN},
    "kub_uncordon": {"nodes": NODE_NAMES, "dry_run": DRY_RUN},
    "kub_get": {"kind": KIND, "name": OPTIONAL_NAME},
}
# what plugin.yaml gives a parameter nobody set, besides '' (the same; a unit test keeps them equal); ''
# and a parameter left out (required: false) both mean "not given"
_GIVEN = {"kub_run": {"replicas": 1}, "kub_expose": {"type": "ClusterIP"}, "kub_scale": {"kind": "deployment"}}
DEFAULTS = {name: {**({"dry_run": False} if "dry_run" in taken else {}), **_GIVEN.get(name, {})}
            for name, taken in WORKFLOWS.items() if "dry_run" in taken or name in _GIVEN}


def _missing(value):
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def checked(workflow, node_id, params):
    """The workflow's parameters (names as in plugin.yaml) checked and converted: {name: value}, with
    `namespace`; a missing optional one is None."""
    where = f"node {node_id} ({workflow})"
    values = {"namespace": _checked_one(where, "namespace", params.get("namespace", DEFAULT_NAMESPACE),
                                        NAMESPACE)}
    for name, check in WORKFLOWS[workflow].items():
        values[name] = _checked_one(where, name, params.get(name, DEFAULTS.get(workflow, {}).get(name)), check)
    if workflow == "kub_delete":
        by_name = values["kind"] is not None or values["name"] is not None
        if by_name == (values["manifest"] is not None) or (by_name and None in (values["kind"], values["name"])):
            raise ConfigError(f"{where}: give either kind and name (e.g. -p '{{\"kind\": \"deployment\", \"name\": "
                              f"\"web\"}}') or a manifest whose objects to delete, not both")
    return values


def _checked_one(where, name, value, check):
    if _missing(value):
        if check.required:
            raise ConfigError(f"{where}: {name} is missing: give it, e.g. -p '{{\"{name}\": {check.example}}}'")
        return None
    converted = check.convert(value)
    if converted is None:
        raise ConfigError(f"{where}: {name} {value!r} {check.wants}: e.g. -p '{{\"{name}\": {check.example}}}'")
    return converted


def cluster_node(workflow, clusters, node_id):
    """The id of the cluster node to act on, of `clusters` ({node id: node type}, the deployment's
    kub.nodes.Master and kub.nodes.ExistingCluster nodes)."""
    listed = ", ".join(f"{node} ({kind})" for node, kind in sorted(clusters.items()))
    if node_id:
        if node_id not in clusters:
            raise ConfigError(f"{workflow}: node_id {node_id!r} is not a cluster node of this deployment: give one of "
                              f"{listed or 'none (the blueprint has no kub.nodes.Master or ExistingCluster)'}")
        return node_id
    if not clusters:
        raise ConfigError(f"{workflow}: this deployment has no cluster node: add a kub.nodes.Master or "
                          f"kub.nodes.ExistingCluster node to the blueprint")
    if len(clusters) > 1:
        first = sorted(clusters)[0]
        raise ConfigError(f"{workflow}: this deployment has {len(clusters)} cluster nodes, {listed}: say which "
                          f"one with node_id, e.g. -p '{{\"node_id\": \"{first}\"}}'")
    return next(iter(clusters))
