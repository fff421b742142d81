"""Kubernetes objects as kub reads them from manifests and node properties: checked, named (Ref), placed in their
namespace. Plain Python (no host, no Cloudify)."""
import base64
import copy
import re
from dataclasses import dataclass

import yaml

from ..errors import ConfigError

DEFAULT_NAMESPACE = "default"
DEFAULT_TIMEOUT = 300
# DNS-1123 label (namespaces) and subdomain (most object names)
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# kinds that live outside namespaces (those of Kubernetes itself; a custom resource's scope comes from its CRD)
CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                  "CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass", "CSIDriver",
                  "CSINode", "VolumeAttachment", "APIService", "MutatingWebhookConfiguration",
                  "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
                  "ValidatingAdmissionPolicyBinding", "CertificateSigningRequest", "FlowSchema",
                  "PriorityLevelConfiguration"}
# what a workload's data may hold that must never be logged or stored: a Secret's values
SECRET_KINDS = {"Secret"}


@dataclass(frozen=True)
class Ref:
    """One object as kub records it (no data): apiVersion, kind, namespace ('' when cluster-scoped), name."""
    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def label(self):
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    @property
    def group(self):
        return self.api_version.rpartition("/")[0]

    @property
    def kubectl_name(self):
        """How kubectl names it in what it prints: deployment.apps "web", configmap "colours"."""
        return f'{self.kind.lower()}{"." + self.group if self.group else ""} "{self.name}"'

    def stub(self):
        """The object reduced to what names it (for kubectl get/delete -f: no data goes there)."""
        meta = {"name": self.name, **({"namespace": self.namespace} if self.namespace else {})}
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": meta}

    def record(self, uid=""):
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace, "name": self.name,
                "uid": uid}

    @classmethod
    def of(cls, record):
        return cls(record["apiVersion"], record["kind"], record.get("namespace", ""), record["name"])


@dataclass(frozen=True)
class WorkloadSettings:
    namespace: str = DEFAULT_NAMESPACE
    timeout: int = DEFAULT_TIMEOUT


def settings(props, node_id):
    namespace = props.get("namespace", DEFAULT_NAMESPACE)
    if not isinstance(namespace, str) or not _LABEL.fullmatch(namespace):
        raise ConfigError(f"node {node_id}: namespace {namespace!r} is not a Kubernetes namespace name: use lower "
                          f"case letters, digits and '-' (at most 63), e.g. 'shop'")
    timeout = props.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise ConfigError(f"node {node_id}: timeout {timeout!r} must be a whole number of seconds above 0 "
                          f"(the default is {DEFAULT_TIMEOUT})")
    return WorkloadSettings(namespace, timeout)


def sources(props, node_id):
    """The node's manifest sources (list of strings) and inline resources (list of mappings), checked."""
    manifests = props.get("manifests") or []
    resources = props.get("resources") or []
    if isinstance(manifests, str):
        manifests = [manifests]
    if not isinstance(manifests, list) or not all(isinstance(m, str) and m.strip() for m in manifests):
        raise ConfigError(f"node {node_id}: manifests {manifests!r} must be a list of paths or URLs: give each "
                          f"manifest file (relative to the blueprint, absolute, or http(s)://) as a string")
    if not isinstance(resources, list):
        raise ConfigError(f"node {node_id}: resources must be a list of Kubernetes objects: write them as a YAML "
                          f"list (resources: [{{apiVersion: v1, kind: ConfigMap, ...}}])")
    if not manifests and not resources:
        raise ConfigError(f"node {node_id}: nothing to apply: set manifests (files or URLs) and/or resources "
                          f"(Kubernetes objects written in the blueprint)")
    return manifests, resources


def parse_manifest(text, source, node_id):
    """The objects of one manifest's YAML documents (empty documents skipped, Lists expanded)."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "not YAML"
        raise ConfigError(f"node {node_id}: manifest {source} is not valid YAML{where} ({problem}): fix the "
                          f"file (kubectl apply --dry-run=client -f FILE shows the same)") from None
    objects = []
    for number, document in enumerate(documents, 1):
        if document is None:
            continue
        objects += expanded(document, f"{source} document {number}", node_id)
    return objects


def expanded(obj, where, node_id):
    if not isinstance(obj, dict):
        kind = {list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}.get(
            type(obj), type(obj).__name__)
        raise ConfigError(f"node {node_id}: {where} is {kind}, not a Kubernetes object: give a mapping with "
                          f"apiVersion, kind and metadata.name")
    if isinstance(obj.get("kind"), str) and obj["kind"].endswith("List") and isinstance(obj.get("items"), list):
        return [item for n, one in enumerate(obj["items"], 1) for item in expanded(one, f"{where} item {n}",
                                                                                   node_id)]
    return [(obj, where)]


def objects_of(found, namespace, node_id):
    """[(object, Ref)] of every object (each a (mapping, where) pair), checked: apiVersion, kind and a name
    each, names Kubernetes takes, no object twice. Namespaced objects without a namespace get the node's."""
    checked, seen = [], {}
    for obj, where in found:
        for field in ("apiVersion", "kind"):
            if not isinstance(obj.get(field), str) or not obj[field].strip():
                raise ConfigError(f"node {node_id}: {where} has no {field}: give every object apiVersion, kind "
                                  f"and metadata.name (e.g. apiVersion: apps/v1, kind: Deployment)")
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            hint = " (generateName makes a new object on every run: kub needs a fixed name)" if isinstance(
                meta, dict) and meta.get("generateName") else ""
            raise ConfigError(f"node {node_id}: {where} ({obj['kind']}) has no metadata.name: give it a name"
                              f"{hint}")
        if not _SUBDOMAIN.fullmatch(name):
            raise ConfigError(f"node {node_id}: {where}: {obj['kind']} name {name!r} is not a Kubernetes name: use "
                              f"lower case letters, digits, '-' and '.'")
        own = meta.get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            own = ""
        elif own is None:
            own = namespace
        elif not isinstance(own, str) or not _LABEL.fullmatch(own):
            raise ConfigError(f"node {node_id}: {where}: metadata.namespace {own!r} is not a namespace name")
        ref = Ref(obj["apiVersion"], obj["kind"], own, name)
        key = (ref.api_version.split("/")[0] if "/" in ref.api_version else "", ref.kind, own, name)
        if key in seen:
            raise ConfigError(f"node {node_id}: {ref.label} is given twice ({seen[key]} and {where}): keep one")
        seen[key] = where
        checked.append((obj, ref))
    return checked


def placed(objects):
    """Copies of the objects (mappings of [(object, Ref)]) as kubectl gets them: each with its namespace set."""
    out = []
    for obj, ref in objects:
        obj = copy.deepcopy(obj)
        if ref.namespace:
            obj["metadata"]["namespace"] = ref.namespace
        if obj["kind"] in SECRET_KINDS and isinstance(obj.get("stringData"), dict):
            # what the API server does with stringData, done here: kubectl then finds a re-applied Secret unchanged
            data = dict(obj.get("data") or {})
            for key, value in obj.pop("stringData").items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
        out.append(obj)
    return out


def manifest_text(objects):
    """One YAML stream of the objects, in order."""
    return yaml.safe_dump_all(objects, sort_keys=False)


def secret_values(objects):
    """The values of every Secret among the objects (redacted from any message that might carry one)."""
    values = []
    for obj in objects:
        if obj.get("kind") in SECRET_KINDS:
            values += [str(v) for v in (obj.get("stringData") or {}).values() if v]
            for value in (obj.get("data") or {}).values():
                if value:
                    values.append(str(value))
                    try:
                        values.append(base64.b64decode(str(value), validate=True).decode())
                    except (ValueError, UnicodeDecodeError):
                        pass
    return [value for value in values if value]
