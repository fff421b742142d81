"""An ExistingCluster reached through a kubeconfig alone (no SSH): its settings, checked before anything runs.

The kubeconfig is either its content (`kubeconfig`, a secret: on a manager from get_secret) or a file on the
machine running cfy (`kubeconfig_file`). Its content is never put into a message: a YAML error is told by its line
and column only, and the object's repr leaves the text out.
"""
import os
import re
from dataclasses import dataclass, field

import yaml

from ..errors import ConfigError
from ..hosts import state
from .properties import url_template

DEFAULT_KUBECTL_URL = "https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubectl"
KUBECONFIG_LIMIT = 1024 * 1024   # a kubeconfig is a few KiB; a larger "kubeconfig" is something else
FORM_FIX = ("set either ip (and ssh) of a control-plane host, or the cluster's kubeconfig: kubeconfig (its content; on "
            "a manager {get_secret: <name>}) or kubeconfig_file (its path on the machine running cfy)")


@dataclass(frozen=True)
class KubeconfigAccess:
    """How kub reaches a cluster from the machine running cfy: the kubeconfig (text, or a file here), the API
    server its current context names, and where kubectl comes from."""
    node_id: str
    endpoint: str
    kubectl_url: str
    text: str = field(repr=False)   # its content (a secret)
    file: str = ""                  # the kubeconfig_file form: its absolute path here

    @property
    def described(self):
        """How messages name the kubeconfig."""
        return f"kubeconfig_file {self.file}" if self.file else "the kubeconfig property"


def uses_kubeconfig(props, node_id):
    """Whether an ExistingCluster's properties choose the kubeconfig form (else ip: the SSH form); exactly one."""
    given = [name for name in ("ip", "kubeconfig", "kubeconfig_file") if props.get(name)]
    if len(given) != 1:
        what = f"{', '.join(given[:-1])} and {given[-1]} are given together" if given else \
            "neither ip nor kubeconfig nor kubeconfig_file"
        raise ConfigError(f"node {node_id}: {what}: {FORM_FIX}")
    return given != ["ip"]


def kubeconfig_access(props, node_id, local_mode):
    """The checked settings of the kubeconfig form (props: the node's properties; kubeconfig_file only in cfy's local
    mode: on a manager it would name a file of its worker)."""
    uses_kubeconfig(props, node_id)
    if props.get("kubeconfig_path", state.ADMIN_CONF) != state.ADMIN_CONF:
        raise ConfigError(f"node {node_id}: kubeconfig_path names a file on a control-plane host, which the "
                          f"kubeconfig form does not log in to: leave kubeconfig_path out")
    text, path = props.get("kubeconfig") or "", props.get("kubeconfig_file") or ""
    if isinstance(text, dict):   # a secret holding it as JSON (or the blueprint as YAML) gives it as a mapping
        text = yaml.safe_dump(text, sort_keys=False)
    if not isinstance(text, str) or not isinstance(path, str):
        name = "kubeconfig" if not isinstance(text, str) else "kubeconfig_file"
        raise ConfigError(f"node {node_id}: {name} is not a string: give the kubeconfig's content as text (kubeconfig) "
                          f"or its path (kubeconfig_file)")
    if path and not local_mode:
        raise ConfigError(f"node {node_id}: kubeconfig_file {path} names a file of the Cloudify Manager's worker, "
                          f"which a blueprint may not read: give the kubeconfig's content as kubeconfig, from a "
                          f"secret (get_secret)")
    if path:
        path = os.path.abspath(os.path.expanduser(path))
        text = _read_file(node_id, path)
    described = f"kubeconfig_file {path}" if path else "kubeconfig"
    endpoint = server(text, f"node {node_id}: {described}")
    url = props.get("kubectl_url", DEFAULT_KUBECTL_URL)
    if not isinstance(url, str):
        raise ConfigError(f"node {node_id}: kubectl_url {url!r} is not a URL: give a template such as "
                          f"{DEFAULT_KUBECTL_URL}")
    check_kubectl_url(url, props.get("allow_plain_http", False), node_id)
    return KubeconfigAccess(node_id, endpoint, url, text, file=path)


def _read_file(node_id, path):
    try:
        with open(path, "rb") as f:
            data = f.read(KUBECONFIG_LIMIT + 1)
    except OSError as err:
        raise ConfigError(f"node {node_id}: kubeconfig_file {path} cannot be read on the machine running cfy "
                          f"({err.strerror}): give the path of the cluster's kubeconfig there") from None
    if len(data) > KUBECONFIG_LIMIT:
        raise ConfigError(f"node {node_id}: kubeconfig_file {path} is larger than 1 MiB: give the cluster's "
                          f"kubeconfig")
    return data.decode(errors="replace")


def server(text, what):
    """The API server URL of the kubeconfig's current context. Errors say where, never what the text holds."""
    fix = "give the cluster's kubeconfig (kubectl config view --raw --minify prints one)"
    if len(text) > KUBECONFIG_LIMIT:
        raise ConfigError(f"{what} is larger than 1 MiB: {fix}")
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{what} is not valid YAML{where}: {fix}") from None
    if not isinstance(config, dict) or config.get("kind", "Config") != "Config":
        raise ConfigError(f"{what} is not a kubeconfig (kind: Config): {fix}")
    context_name = config.get("current-context") or ""
    contexts = {c.get("name"): c.get("context") or {} for c in _named(config, "contexts")}
    if not context_name or context_name not in contexts:
        raise ConfigError(f"{what} has no current-context among its contexts: set current-context to the "
                          f"context kub is to use (kubectl config use-context)")
    clusters = {c.get("name"): c.get("cluster") or {} for c in _named(config, "clusters")}
    cluster = clusters.get(contexts[context_name].get("cluster"))
    url = (cluster or {}).get("server")
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise ConfigError(f"{what}: the cluster of context {context_name} has no server URL (https://host:port): "
                          f"{fix}")
    return url.rstrip("/")


def _named(config, key):
    entries = config.get(key) or []
    return [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []


def check_kubectl_url(url, allow_plain_http, node_id):
    """kubectl_url: an http(s) template of dl.k8s.io's layout (.../v{version}/...; stable-<minor>.txt beside it)."""
    url_template("kubectl_url", url, ("version", "arch"), prefix=f"node {node_id}: ")
    if not url.lower().startswith(("https://", "http://")) or "/v{version}/" not in url:
        raise ConfigError(f"node {node_id}: kubectl_url {url!r} must be an http(s) URL laid out like dl.k8s.io's, "
                          f".../v{{version}}/..., e.g. {DEFAULT_KUBECTL_URL} (a mirror of it)")
    if url.lower().startswith("http://") and not allow_plain_http:
        raise ConfigError(f"node {node_id}: kubectl_url {url!r} is plain http, which anyone on the way can change: "
                          f"use https, or set allow_plain_http: true for a mirror on a network you trust")
