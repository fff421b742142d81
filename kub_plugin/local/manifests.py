"""Manifests read on the machine running cfy: the CNI's, the workloads', a workflow's manifest parameter. Hosts
need no internet for these: kub reads them here and uploads.

What kub reads here comes only from sources a blueprint may name (see Sources): on a Cloudify Manager a
blueprint must not make a worker read its own files or its cloud's metadata service and ship them to a host."""
import os
import re
from dataclasses import dataclass

import yaml

from ..cluster.settings import URL_SETTINGS
from ..errors import ConfigError
from ..workloads import model
from .downloads import DownloadError, fetch


@dataclass(frozen=True)
class Sources:
    """Where kub may read a manifest from, here: a path relative to the blueprint (get_resource(path) -> bytes),
    an https:// URL (http:// where allow_plain_http is set: a mirror on a network the user trusts), and, only in
    local mode (local_mode), an absolute or ~ path. On a Cloudify Manager an absolute path would name a file of
    its worker (another deployment's kubeconfig), so it is refused there."""
    get_resource: object
    local_mode: bool
    allow_plain_http: bool = False


def check_url_settings(settings, sources):
    """The cluster's URL settings name no file of the machine running cfy (file://) outside local mode."""
    for name in URL_SETTINGS:
        value = getattr(settings, name)
        if value.lower().startswith("file://") and not sources.local_mode:
            raise ConfigError(f"cluster.{name} {value}: a file:// URL names a file of the Cloudify Manager's worker, "
                              f"which a blueprint may not read: give an https URL (a mirror)")


def cni_manifest(source, sources, node_id):
    """The CNI manifest as the text of its checked Kubernetes objects (see text_from): what is uploaded is only
    what parsed into objects, so anything else (a kubeconfig, a key) is refused here and never leaves."""
    if not source:
        raise ConfigError("cluster.cni_manifest is empty: give a CNI manifest path or URL "
                          "(e.g. flannel's kube-flannel.yml)")
    what = f"cluster.cni_manifest {source}"
    objects = model.parse_manifest(text_from(source, sources, "cluster.cni_manifest"), what, node_id)
    if not objects:
        raise ConfigError(f"node {node_id}: {what} holds no Kubernetes object: give the CNI's manifest (e.g. "
                          f"flannel's kube-flannel.yml)")
    checked = model.objects_of(objects, "kube-system", node_id)
    return model.manifest_text([obj for obj, _ in checked])


def workload_manifest(source, sources, node_id):
    """A workload manifest's text (see text_from)."""
    return text_from(source, sources, f"node {node_id}: manifest")


def text_from(source, sources, what):
    """A manifest's text from one of the Sources a blueprint may name. `what` names it in errors."""
    where = f"{what} {source}"
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", source)
    if scheme:
        allowed = ("https", "http") if sources.allow_plain_http else ("https",)
        if scheme.group(1).lower() not in allowed:
            hint = (" (plain http only with allow_plain_http: true, for a mirror on a network you trust)"
                    if scheme.group(1).lower() == "http" else "")
            raise ConfigError(f"{where}: only https:// URLs are fetched{hint}: give an https URL, or a path "
                              f"relative to the blueprint")
        try:
            body = fetch(source, timeout=60)
        except ConfigError as err:
            raise ConfigError(f"{what} {err}") from None
        except DownloadError as err:
            raise ConfigError(f"{where} cannot be fetched ({err}): check the URL and that this machine "
                              f"reaches it, or give a local copy's path") from None
    elif os.path.isabs(os.path.expanduser(source)):
        if not sources.local_mode:
            raise ConfigError(f"{where}: an absolute path names a file of the Cloudify Manager's worker, which a "
                              f"blueprint may not read: give a path relative to the blueprint (uploaded with it) "
                              f"or an https URL")
        try:
            with open(os.path.expanduser(source), "rb") as f:
                body = f.read()
        except OSError as err:
            raise ConfigError(f"{where} cannot be read ({err.strerror}): give an existing file on the machine "
                              f"running cfy, a path relative to the blueprint, or a URL") from None
    elif ".." in re.split(r"[/\\]", source):
        raise ConfigError(f"{where}: a path relative to the blueprint may not leave its folder ('..'): put the "
                          f"file in the blueprint's folder")
    else:
        try:
            body = sources.get_resource(source)
        except Exception:   # cloudify raises its own types for a missing resource
            raise ConfigError(f"{where} not found beside the blueprint: give a path relative to the blueprint's "
                              f"folder, an absolute path, or a URL") from None
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where} is not UTF-8 text (byte {err.start}): give the YAML manifest itself, saved "
                          f"as UTF-8") from None


def workload(props, node_id, sources):
    """A Workload node's settings and checked objects [(object, Ref)]: its manifests read (fetched, for URLs)
    here from the Sources its cluster allows, in order, then its inline resources."""
    settings = model.settings(props, node_id)
    manifests, resources = model.sources(props, node_id)
    found = []
    for source in manifests:
        found += model.parse_manifest(workload_manifest(source, sources, node_id), source, node_id)
    for number, obj in enumerate(resources, 1):
        found += model.expanded(obj, f"resources item {number}", node_id)
    return settings, model.objects_of(found, settings.namespace, node_id)


def manifest_objects(manifest, namespace, sources, owner):
    """[(object, Ref)] of a manifest parameter, checked: inline YAML (or objects given as a mapping or list),
    or a path or URL whose text is read here from the Sources the cluster node allows. Objects that name
    no namespace get `namespace`. `owner` names the node in errors."""
    if isinstance(manifest, (dict, list)):
        found = model.expanded({"kind": "List", "items": manifest} if isinstance(manifest, list) else manifest,
                               "manifest", owner)
    elif _is_inline(manifest):
        found = model.parse_manifest(manifest, "(inline)", owner)
    else:
        source = manifest.strip()
        found = model.parse_manifest(workload_manifest(source, sources, owner), source, owner)
    if not found:
        raise ConfigError(f"node {owner}: the manifest holds no object: give at least one Kubernetes object")
    return model.objects_of(found, namespace, owner)


def _is_inline(text):
    """YAML written into the parameter (several lines, or a mapping on one) rather than a path or a URL."""
    if "\n" in text.strip():
        return True
    try:
        return isinstance(yaml.safe_load(text), (dict, list))
    except yaml.YAMLError:
        return False
