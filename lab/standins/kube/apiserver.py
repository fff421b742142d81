"""kube-apiserver: an HTTPS REST server with the Kubernetes URL layout, storing objects in etcd (etcdstore.py).

What a real client needs of it: discovery (/api, /apis, resource lists), OpenAPI v3, Table answers for
`get`, watch streams, merge/JSON/strategic-merge patches and server-side apply, and the status, scale and
eviction subresources.

Authentication: client certificates signed by --client-ca-file (user = CN, groups = O), bootstrap tokens
(Authorization: Bearer <id>.<secret>, checked against kube-system/bootstrap-token-<id> secrets), else
anonymous. Authorization is a fixed policy shaped like kubeadm's RBAC + the Node authorizer.
"""
import base64
import copy
import hashlib
import hmac
import ipaddress
import json
import os
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kube import apimodel, disruption, etcdstore, managedfields, patches, protobuf, util, validation
from kube import etcd as etcdclient
from kube.client import RESOURCES
from kube.common import CONTROL_PLANE_FAULT
from kube.version import BUILD_DATE, GIT_COMMIT, GO_VERSION, VERSION

CLUSTER_SCOPED = {p for p, v in RESOURCES.items() if not v[2]} | {"componentstatuses", "flowschemas",
                                                                   "prioritylevelconfigurations",
                                                                   "podsecuritypolicies", "csinodes",
                                                                   "volumeattachments"}
# the groups of Kubernetes itself: a request to any other group needs a CustomResourceDefinition serving it
BUILTIN_GROUPS = {gv.split("/")[0] for gv, _, _ in RESOURCES.values() if "/" in gv}
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ADMIN_GROUPS = {"system:masters", "kubeadm:cluster-admins"}
NAMESPACE_CLEANUP_DELAY = 1.0  # seconds a deleted namespace stays Terminating with its content
ADMIN_USERS = {"system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"}


def status(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
         "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


class HTTPError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.body = status(code, reason, message, details)


def qualified(group, resource):
    return resource if not group else "%s.%s" % (resource, group)


def jws_detached(content, token_id, secret):
    """Detached HS256 JWS over the cluster-info kubeconfig, like the bootstrap signer makes it."""
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    header = b64u(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    payload = b64u(content.encode())
    sig = hmac.new(secret.encode(), ("%s.%s" % (header, payload)).encode(), hashlib.sha256).digest()
    return "%s..%s" % (header, b64u(sig))


def match_labels(labels, selector):
    """Equality-based label selector: a=b, a==b, a!=b, a, !a (comma-separated)."""
    labels = labels or {}
    for term in [t.strip() for t in (selector or "").split(",") if t.strip()]:
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = re.split("==?", term, maxsplit=1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_value(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def match_fields(obj, selector):
    for term in [t.strip() for t in (selector or "").split(",") if t.strip()]:
        neg = "!=" in term
        k, v = re.split("!=|==?", term, maxsplit=1)
        val = field_value(obj, k.strip())
        val = "" if val is None else str(val)
        if (val == v.strip()) == neg:
            return False
    return True


RETRIES = 5   # a write that lost its race to another writer is done again on what won, as the real server does


def retried(method):
    """A write without a precondition of the client's, done again (on the object as it now is) when another
    writer changed the object between this one's read and its write."""
    def run(self, key, *args, **kwargs):
        for attempt in range(RETRIES):
            try:
                return method(self, key, *args, **kwargs)
            except etcdstore.Conflict:
                if attempt == RETRIES - 1:
                    raise self.conflict(key) from None
    return run


class Identity:
    def __init__(self, user, groups):
        self.user = user
        self.groups = set(groups)
        self.manager = ""   # the request's field manager (fieldManager, else the client's user agent)


class Server:
    def __init__(self, store, version, advertise="", service_cidr="10.96.0.0/12", node_port_range="30000-32767"):
        self.store = store
        low, _, high = node_port_range.partition("-")
        self.node_port_range = (int(low), int(high or low))
        self.version = version
        self.minor = validation.minor_of(version)
        self.advertise = advertise
        self.service_cidr = ipaddress.ip_network(service_cidr, strict=False)
        self._openapi = (None, None)   # (the custom resources it describes, the documents)
        # evictions one at a time: kube-apiserver takes each allowed disruption from the budget's status with a
        # guarded write, so that of two evictions racing for the last one, one is refused (kubectl drain sends
        # a node's evictions at once)
        self.evictions = threading.Lock()

    def custom(self):
        """What the stored CustomResourceDefinitions serve (apimodel.custom_resources)."""
        return apimodel.custom_resources(self.store.list(*CRDS))

    def openapi(self, custom):
        if self._openapi[0] != custom:
            self._openapi = (custom, apimodel.openapi_documents(custom))
        return self._openapi[1]

    def scope(self, group, version, resource, custom):
        """(served, namespaced) of a resource: a custom one only while a CRD serves it at that version."""
        for gv, plural, _, namespaced, _ in custom:
            if gv == "%s/%s" % (group, version) and plural == resource:
                return True, namespaced
        if group and group not in BUILTIN_GROUPS and not group.endswith(".k8s.io"):
            return False, True
        return True, resource not in CLUSTER_SCOPED

    def kind_of(self, group, resource, custom=()):
        for gv, plural, kind, _, _ in custom:
            if gv.split("/")[0] == group and plural == resource:
                return kind
        return RESOURCES.get(resource, (None, resource.capitalize()))[1]

    # ---- authentication -------------------------------------------------------------------------
    def authenticate(self, handler):
        ident = self._authenticate(handler)
        user = handler.headers.get("Impersonate-User")
        if user is None:
            return ident
        if not (ident.groups & ADMIN_GROUPS or ident.user in ADMIN_USERS):
            raise HTTPError(403, "Forbidden", 'users "%s" is forbidden: User "%s" cannot impersonate resource '
                            '"users" in API group "" at the cluster scope' % (user, ident.user))
        groups = handler.headers.get_all("Impersonate-Group") or []
        groups.append("system:unauthenticated" if user == "system:anonymous" else "system:authenticated")
        return Identity(user, groups)

    def _authenticate(self, handler):
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            ident = self.token_identity(auth[7:].strip())
            if ident is None:
                raise HTTPError(401, "Unauthorized", "Unauthorized")
            return ident
        cert = None
        try:
            cert = handler.connection.getpeercert()
        except (AttributeError, ValueError):
            pass
        if cert:
            cn, orgs = "", []
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
                    elif k == "organizationName":
                        orgs.append(v)
            return Identity(cn, orgs + ["system:authenticated"])
        return Identity("system:anonymous", ["system:unauthenticated"])

    def token_identity(self, token):
        m = re.fullmatch(r"([a-z0-9]{6})\.([a-z0-9]{16})", token)
        if not m:
            return None
        secret = self.store.get(("", "secrets", "kube-system", "bootstrap-token-" + m.group(1)))
        if not secret:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        if data.get("token-secret") != m.group(2) or data.get("usage-bootstrap-authentication") != "true":
            return None
        if token_expired(data):
            return None
        groups = [g for g in data.get("auth-extra-groups", "").split(",") if g]
        return Identity("system:bootstrap:" + m.group(1), groups + ["system:bootstrappers", "system:authenticated"])

    # ---- authorization --------------------------------------------------------------------------
    def authorize(self, ident, verb, group, resource, ns, name, sub, body):
        if ident.groups & ADMIN_GROUPS or ident.user in ADMIN_USERS:
            return
        if resource == "configmaps" and ns == "kube-public" and name == "cluster-info" and verb == "get":
            return
        if "system:nodes" in ident.groups and ident.user.startswith("system:node:"):
            node = ident.user[len("system:node:"):]
            if verb in ("get", "list", "watch"):
                return
            if resource == "nodes":
                target = name or (body or {}).get("metadata", {}).get("name")
                if verb in ("create", "update", "patch") and target == node:
                    return
                if target and target != node and verb in ("update", "patch"):
                    raise HTTPError(403, "Forbidden", 'nodes "%s" is forbidden: node "%s" is not allowed to '
                                    'modify node "%s"' % (target, node, target),
                                    {"name": target, "kind": "nodes"})
            if resource in ("pods", "events", "leases", "certificatesigningrequests"):
                return
        if "system:bootstrappers" in ident.groups:
            if resource == "certificatesigningrequests" and verb in ("create", "get", "list", "watch"):
                return
            if resource == "configmaps" and ns == "kube-system" and verb == "get" and \
                    name in ("kubeadm-config", "kubelet-config", "kube-proxy"):
                return
            if resource == "nodes" and verb == "get":
                return
            # kubeadm's kubeadm:kubeadm-certs Role, bound to the default node token's group: a control-plane join
            # downloads the shared certificates with its bootstrap token
            if resource == "secrets" and ns == "kube-system" and name == "kubeadm-certs" and verb == "get" and \
                    "system:bootstrappers:kubeadm:default-node-token" in ident.groups:
                return
        what = 'resource "%s" in API group "%s"' % (resource if not sub else resource + "/" + sub, group)
        scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
        target = '%s "%s"' % (qualified(group, resource), name) if name else qualified(group, resource)
        raise HTTPError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s %s %s'
                        % (target, ident.user, verb, what, scope),
                        {"name": name, "group": group, "kind": resource} if name else
                        {"group": group, "kind": resource})

    # ---- requests -------------------------------------------------------------------------------
    def decode_body(self, raw, ctype):
        if ctype == protobuf.CONTENT_TYPE:
            try:
                return protobuf.decode_object(raw)
            except (protobuf.DecodeError, UnicodeDecodeError, ValueError) as e:
                raise HTTPError(400, "BadRequest", "the object provided is unrecognized: %s" % e)
        if ctype not in ("", "application/json", "application/json-patch+json", "application/merge-patch+json",
                         "application/strategic-merge-patch+json", "application/apply-patch+yaml", "application/yaml"):
            raise HTTPError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - '
                            'accepted media types include: application/json, application/yaml')
        try:
            return json.loads(raw)
        except ValueError:
            pass
        if ctype == "application/apply-patch+yaml":
            try:
                docs = util.yaml_load_all(raw.decode())
            except Exception as e:  # the YAML library's own errors
                raise HTTPError(400, "BadRequest", "error decoding YAML: %s" % e)
            return docs[0] if docs else None
        raise HTTPError(400, "BadRequest", "couldn't get version/kind; json parse error")

    def handle(self, handler, method):
        u = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(u.query))
        parts = [p for p in u.path.split("/") if p]
        ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip()
        accept = handler.headers.get("Accept") or ""
        body = None
        raw = read_body(handler)
        if raw:
            body = self.decode_body(raw, ctype)
        ident = self.authenticate(handler)
        ident.manager = field_manager(query, handler.headers.get("User-Agent"))
        if u.path in ("/healthz", "/livez", "/readyz"):
            if not self.store.healthy():
                return 500, "[+]ping ok\n[-]etcd failed: reason withheld\n%s check failed" % u.path.strip("/")
            return 200, "ok"
        if u.path in ("/healthz/etcd", "/livez/etcd", "/readyz/etcd"):   # the storage's own check
            healthy = getattr(self.store, "healthy", lambda: True)()
            return (200, "ok") if healthy else (500, "[-]etcd failed: reason withheld\nhealthz check failed")
        if u.path == "/version":
            major, minor = self.version.lstrip("v").split(".")[:2]
            return 200, {"major": major, "minor": minor, "gitVersion": self.version,
                         "gitCommit": GIT_COMMIT if self.version.lstrip("v") == VERSION else "0" * 40,
                         "gitTreeState": "clean", "buildDate": BUILD_DATE, "goVersion": GO_VERSION,
                         "compiler": "gc", "platform": "linux/amd64"}
        if ident.user == "system:anonymous" and not (parts[:2] == ["api", "v1"] and method == "GET"):
            raise HTTPError(403, "Forbidden", 'forbidden: User "system:anonymous" cannot %s path "%s"'
                            % (method.lower(), u.path))
        custom = self.custom()
        if method == "GET":
            if u.path in ("/api", "/apis") and apimodel.wants_aggregated(accept):
                return 200, apimodel.aggregated_discovery(u.path == "/api", custom), apimodel.AGGREGATED
            found = self.discovery(u.path, parts, custom)
            if found is not None:
                return found
        # /api/v1/... or /apis/<group>/<version>/...
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise HTTPError(404, "NotFound", "the server could not find the requested resource")
        ns = None
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            ns, rest = rest[1], rest[2:]
        if not rest:
            raise HTTPError(404, "NotFound", "the server could not find the requested resource")
        resource, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}[method]
        if query.get("watch") in ("1", "true"):
            verb = "watch"
        if sub == "eviction":
            verb = "create"
        if not (group == "authorization.k8s.io" and resource == "selfsubjectaccessreviews"):
            self.authorize(ident, verb, group, resource, ns, name, sub, body)
        api_version = version if not group else "%s/%s" % (group, version)
        served, namespaced = self.scope(group, version, resource, custom)
        if not served:
            raise HTTPError(404, "NotFound", "the server could not find the requested resource")
        if not namespaced:
            ns = None
        kind = self.kind_of(group, resource, custom)
        key = (group, resource, ns or "", name)
        if method == "GET" and verb == "watch":
            selector = dict(query)
            if name:
                selector["fieldSelector"] = ",".join(filter(None, [query.get("fieldSelector"),
                                                                   "metadata.name=" + name]))
            self.watch(handler, group, resource, ns, selector, api_version, accept, kind)
            return None
        if method == "GET" and query.get("resourceVersion") != "0":
            self.store.sync()   # a consistent read: what etcd holds now, whichever API server wrote it
        if method == "GET" and name:
            if sub == "scale" and resource in apimodel.SCALABLE:
                return 200, self.scale_of(self.get(key, api_version))
            obj = self.get(key, api_version, ident)
            if apimodel.wants_table(accept) and not sub:
                return 200, apimodel.table(resource, [obj], obj["metadata"].get("resourceVersion", ""),
                                           query.get("includeObject", "PartialObjectMetadata"))
            return 200, obj
        if method == "GET":
            listed = self.list(group, resource, ns, api_version, query, kind)
            if apimodel.wants_table(accept):
                return 200, apimodel.table(resource, listed["items"], listed["metadata"]["resourceVersion"],
                                           query.get("includeObject", "PartialObjectMetadata"))
            return 200, listed
        if method == "POST":
            if group == "authorization.k8s.io" and resource == "selfsubjectaccessreviews":
                return 201, self.access_review(ident, body)
            if resource == "pods" and sub == "eviction":
                options = (body or {}).get("deleteOptions") if isinstance(body, dict) else None
                return 201, self.evict(key, body, dry_run(query, options))
            if name and sub is None:
                raise HTTPError(405, "MethodNotAllowed",
                                "the server does not allow this method on the requested resource")
            self.validate_fields(body, query, resource)
            self.check_decodable(body, group, resource, kind)
            return 201, self.create(group, resource, ns, body, api_version, query, ident, (namespaced, kind))
        if method == "PUT":
            if sub == "scale" and resource in apimodel.SCALABLE:
                return 200, self.update_scale(key, api_version, lambda scale: body, dry_run(query))
            self.validate_fields(body, query, resource)
            self.check_decodable(body, group, resource, kind)
            return 200, self.update(key, body, sub, api_version, dry_run(query), (kind, ident.manager))
        if method == "PATCH":
            if sub == "scale" and resource in apimodel.SCALABLE:
                return 200, self.update_scale(key, api_version, lambda scale: self.patched(scale, body, ctype),
                                              dry_run(query))
            if ctype == "application/apply-patch+yaml":
                self.validate_fields(body, query, resource)
                return self.apply(key, body, api_version, query, ident, (namespaced, kind))
            return 200, self.patch(key, body, ctype, sub, api_version, query, (kind, ident.manager))
        if method == "DELETE":
            return 200, self.delete(key, api_version, body, kind, dry_run(query, body))
        raise HTTPError(405, "MethodNotAllowed", "method not allowed")

    def validate_fields(self, obj, query, resource):
        """fieldValidation=Strict: an object with fields its kind does not have is refused, like the real
        server's strict decoding (Warn and Ignore let it through)."""
        if query.get("fieldValidation") != "Strict" or not isinstance(obj, dict):
            return
        try:
            name = protobuf.message_name(obj.get("apiVersion", ""), obj.get("kind", ""))
            unknown = protobuf.unknown_fields(obj, name)
        except (protobuf.DecodeError, OSError, ValueError):
            return   # a kind without a schema here: nothing to check it against
        if unknown:
            kind, version = obj.get("kind"), obj.get("apiVersion")
            raise HTTPError(400, "BadRequest", '%s in version "%s" cannot be handled as a %s: strict decoding '
                            'error: %s' % (kind, version.rpartition("/")[2], kind, ", ".join(
                                'unknown field "%s"' % f for f in unknown)))

    def builtin(self, group, resource):
        """Is this one of Kubernetes' own resources (not a custom one of the same name)?"""
        return resource in RESOURCES and RESOURCES[resource][0].rpartition("/")[0] == group

    def check_decodable(self, obj, group, resource, kind):
        """A body that does not decode into its kind (base64 of a Secret's data) is a 400, as the real server's
        decoding refuses it."""
        error = validation.base64_error(resource, obj) if self.builtin(group, resource) else None
        if error:
            version = str((obj or {}).get("apiVersion", "v1")).rpartition("/")[2]
            raise HTTPError(400, "BadRequest", validation.decode_error(kind, version, error))

    def refuse_invalid(self, group, resource, kind, obj, old=None):
        """422 Invalid with the real server's field errors (validation.py), on every path that writes."""
        errors = validation.check(resource if self.builtin(group, resource) else None, obj, old)
        if errors:
            name = (obj.get("metadata") or {}).get("name") or ""
            raise HTTPError(422, "Invalid", *validation.invalid(kind, group, name, errors, self.minor))

    def discovery(self, path, parts, custom):
        """Discovery and OpenAPI documents for GET path, or None if path is not one of them."""
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.advertise}]}
        if path == "/apis":
            return 200, apimodel.api_group_list(custom)
        if len(parts) == 2 and parts[0] == "apis":
            found = apimodel.api_group(parts[1], custom)
            if found is None:
                raise HTTPError(404, "NotFound", "the server could not find the requested resource")
            return 200, found
        if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
            found = apimodel.resource_list("v1" if parts[0] == "api" else "/".join(parts[1:]), custom)
            if found is None:
                raise HTTPError(404, "NotFound", "the server could not find the requested resource")
            return 200, found
        if parts[:2] == ["openapi", "v3"]:
            documents = self.openapi(custom)
            if len(parts) == 2:
                return 200, apimodel.openapi_root(documents)
            doc = documents.get("/".join(parts[2:]))
            if doc is None:
                raise HTTPError(404, "NotFound", "the server could not find the requested resource")
            return 200, doc
        return None

    def patched(self, obj, patch, ctype):
        try:
            if ctype == "application/json-patch+json":
                return patches.json_patch(obj, patch)
            if ctype == "application/strategic-merge-patch+json":
                return patches.strategic_merge(obj, patch or {})
            if ctype == "application/merge-patch+json":
                return patches.merge_patch(obj, patch or {})
        except (patches.PatchError, KeyError, TypeError, AttributeError) as e:
            raise HTTPError(422, "Invalid", "the server rejected our request due to an error in our request: %s" % e)
        raise HTTPError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted '
                        'media types include: application/json-patch+json, application/merge-patch+json, '
                        'application/apply-patch+yaml, application/strategic-merge-patch+json')

    # ---- watch ----------------------------------------------------------------------------------
    def watch(self, handler, group, resource, ns, query, api_version, accept, kind):
        """A watch=true stream: one JSON event per chunk until timeoutSeconds or the client goes away."""
        store = self.store
        since = query.get("resourceVersion", "")
        timeout = float(query.get("timeoutSeconds") or 1800)
        initial_events = query.get("sendInitialEvents") == "true"
        as_table = apimodel.wants_table(accept)

        def matches(key, obj):
            return (key[0] == group and key[1] == resource and (ns is None or key[2] == ns)
                    and match_labels(obj["metadata"].get("labels"), query.get("labelSelector"))
                    and match_fields(obj, query.get("fieldSelector")))

        def encode(kind_, obj):
            obj = copy.deepcopy(obj)
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            if as_table and kind_ != "BOOKMARK":
                obj = apimodel.table(resource, [obj], obj["metadata"].get("resourceVersion", ""),
                                     query.get("includeObject", "PartialObjectMetadata"))
            return json.dumps({"type": kind_, "object": obj}).encode() + b"\n"

        out = []
        if since.isdigit() and int(since) > store.rv:
            store.wait_for(int(since), 3)   # a version another API server wrote: this cache may lag a moment
        with store.lock:
            if since in ("", "0") or initial_events:
                out = [encode("ADDED", o) for k, o in sorted(store.objects.items()) if matches(k, o)]
                cursor = store.rv
            else:
                try:
                    cursor = int(since)
                except ValueError:
                    raise HTTPError(400, "BadRequest", 'invalid resource version "%s"' % since)
                if cursor < store.oldest_event_rv() - 1 and cursor < store.rv:
                    expired = status(410, "Expired", "too old resource version: %s (%d)"
                                     % (since, store.oldest_event_rv()))
                    out = [json.dumps({"type": "ERROR", "object": expired}).encode() + b"\n"]
                    cursor = None
                elif cursor > store.rv:
                    # a version etcd has not reached: its data was reset (kubeadm reset). Waiting would miss the
                    # writes that reuse those numbers
                    ahead = status(504, "Timeout", "Too large resource version: %d, current: %d" % (cursor, store.rv),
                                   {"causes": [{"reason": "ResourceVersionTooLarge",
                                                "message": "Too large resource version"}], "retryAfterSeconds": 1})
                    out = [json.dumps({"type": "ERROR", "object": ahead}).encode() + b"\n"]
                    cursor = None
        if initial_events and query.get("allowWatchBookmarks") == "true":
            out.append(encode("BOOKMARK", {"kind": kind, "apiVersion": api_version, "metadata": {
                "resourceVersion": str(cursor), "annotations": {"k8s.io/initial-events-end": "true"}}}))
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        deadline = time.monotonic() + timeout
        try:
            for data in out:
                self._chunk(handler, data)
            while cursor is not None and time.monotonic() < deadline:
                with store.lock:
                    events = store.events_after(cursor)
                    if not events:
                        store.changed.wait(min(5.0, max(0.0, deadline - time.monotonic())))
                        continue
                cursor = events[-1][0]
                for _, kind_, key, obj in events:
                    if matches(key, obj):
                        self._chunk(handler, encode(kind_, obj))
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (OSError, ssl.SSLError):
            pass
        handler.close_connection = True

    @staticmethod
    def _chunk(handler, data):
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.flush()

    def not_found(self, key):
        group, resource, _, name = key
        return HTTPError(404, "NotFound", '%s "%s" not found' % (qualified(group, resource), name),
                         {"name": name, "group": group, "kind": resource})

    def get(self, key, api_version, ident=None):
        obj = self.store.get(key)
        if obj is None:
            raise self.not_found(key)
        if key[1] == "configmaps" and key[2:] == ("kube-public", "cluster-info"):
            self.sign_cluster_info(obj)
        return obj

    def sign_cluster_info(self, obj):
        """Add a JWS for each live bootstrap token that may sign (what the bootstrap signer maintains)."""
        content = (obj.get("data") or {}).get("kubeconfig", "")
        data = {k: v for k, v in (obj.get("data") or {}).items() if not k.startswith("jws-kubeconfig-")}
        for sec in self.store.list("", "secrets", "kube-system"):
            if sec.get("type") != "bootstrap.kubernetes.io/token":
                continue
            d = {k: base64.b64decode(v).decode() for k, v in (sec.get("data") or {}).items()}
            if d.get("usage-bootstrap-signing") != "true" or token_expired(d):
                continue
            data["jws-kubeconfig-" + d["token-id"]] = jws_detached(content, d["token-id"], d["token-secret"])
        obj["data"] = data

    def list(self, group, resource, ns, api_version, query, kind):
        items = self.store.list(group, resource, ns)
        items = [o for o in items if match_labels(o["metadata"].get("labels"), query.get("labelSelector"))
                 and match_fields(o, query.get("fieldSelector"))]
        for o in items:
            o.setdefault("apiVersion", api_version)
            o.setdefault("kind", kind)
        return {"kind": kind + "List", "apiVersion": api_version,
                "metadata": {"resourceVersion": str(self.store.rv)}, "items": items}

    def create(self, group, resource, ns, body, api_version, query, ident, scope=None, managed=None):
        """scope: (namespaced, kind) of the resource (those of a built-in resource when None). managed: the
        managedFields of a server-side apply (else the creating manager owns every field)."""
        namespaced, kind = scope or (resource not in CLUSTER_SCOPED, self.kind_of(group, resource))
        if not isinstance(body, dict):
            raise HTTPError(400, "BadRequest", "the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name") or ""
        if namespaced:
            ns = ns or meta.get("namespace") or "default"
            if meta.get("namespace") and meta["namespace"] != ns:
                raise HTTPError(400, "BadRequest", "the namespace of the provided object does not match the "
                                "namespace sent on the request")
            namespace = self.store.get(("", "namespaces", "", ns))
            if namespace is None:
                raise HTTPError(404, "NotFound", 'namespaces "%s" not found' % ns,
                                {"name": ns, "kind": "namespaces"})
            if namespace["metadata"].get("deletionTimestamp"):
                raise HTTPError(403, "Forbidden", '%s "%s" is forbidden: unable to create new content in namespace '
                                '%s because it is being terminated' % (qualified(group, resource), name, ns),
                                {"name": name, "group": group, "kind": resource, "causes": [
                                    {"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                     "message": "namespace %s is being terminated" % ns}]})
            meta["namespace"] = ns
        self.refuse_invalid(group, resource, kind, obj)   # after admission (the namespace), as the real one
        key = (group, resource, ns or "", name)
        meta["managedFields"] = managed if managed is not None else managedfields.update(
            [], ident.manager, api_version, None, obj, util.rfc3339())
        exists = HTTPError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(group, resource), name),
                           {"name": name, "group": group, "kind": resource})
        if self.store.get(key) is not None:
            raise exists
        if query.get("dryRun"):
            return obj
        meta.pop("resourceVersion", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = util.rfc3339()
        if resource not in ("nodes", "pods", "configmaps", "secrets", "namespaces", "events", "leases"):
            meta["generation"] = 1
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind)
        if resource == "namespaces":
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if resource == "pods":
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        if resource == "services":
            self.service_defaults(obj)
        if resource == "statefulsets":
            spec = obj.setdefault("spec", {})
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("replicas", 1)
        if resource == "jobs":
            spec = obj.setdefault("spec", {})
            for field, value in (("completions", 1), ("parallelism", 1), ("backoffLimit", 6)):
                spec.setdefault(field, value)
        if resource == "certificatesigningrequests":
            obj.setdefault("spec", {})["username"] = ident.user
            obj["spec"]["groups"] = sorted(ident.groups)
            obj["status"] = {}
        if resource == "secrets":
            fold_string_data(obj)
        if (group, resource) == CRDS:
            accept_names(obj)
        try:
            return self.store.put(key, obj)
        except etcdstore.Conflict:
            raise exists from None

    def service_defaults(self, obj, current=None):
        """A Service's defaults: a cluster IP from --service-cluster-ip-range and, for NodePort and
        LoadBalancer Services, a node port per port from --service-node-port-range. An update keeps what was
        allocated (a port matched by its port number) unless it asks for another."""
        spec = obj.setdefault("spec", {})
        old = (current or {}).get("spec") or {}
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        if spec["type"] == "ExternalName":
            return
        if not spec.get("clusterIP") and old.get("clusterIP"):
            spec["clusterIP"] = old["clusterIP"]
        if not spec.get("clusterIP"):
            used = {(o.get("spec") or {}).get("clusterIP") for o in self.store.list("", "services")}
            for host in self.service_cidr.hosts():
                if str(host) not in used and host != next(self.service_cidr.hosts()):
                    spec["clusterIP"] = str(host)
                    break
            else:
                raise HTTPError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: "
                                "range is full")
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
            self.node_ports(obj, old)
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)

    def node_ports(self, obj, old):
        spec, name = obj["spec"], obj["metadata"].get("name", "")
        before = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old.get("ports") or []}
        used = {p.get("nodePort") for o in self.store.list("", "services") if o["metadata"].get("uid") !=
                obj["metadata"].get("uid") for p in (o.get("spec") or {}).get("ports") or []} - {None}
        low, high = self.node_port_range
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort") or before.get((port.get("port"), port.get("protocol")))
            if wanted:
                if not low <= wanted <= high:
                    raise HTTPError(422, "Invalid", 'Service "%s" is invalid: spec.ports[%d].nodePort: Invalid value: '
                                    '%d: provided port is not in the valid range. The range of valid ports is %d-%d'
                                    % (name, i, wanted, low, high))
                if wanted in used:
                    raise HTTPError(422, "Invalid", 'Service "%s" is invalid: spec.ports[%d].nodePort: Invalid value: '
                                    '%d: provided port is already allocated' % (name, i, wanted))
            else:
                free = [n for n in range(low, high + 1) if n not in used]
                if not free:
                    raise HTTPError(500, "InternalError", "Internal error occurred: failed to allocate a nodePort: "
                                    "range is full")
                wanted = random.choice(free)
            port["nodePort"] = wanted
            used.add(wanted)

    @retried
    def update(self, key, body, sub, api_version, dry=False, writer=("", "")):
        """writer: (kind, field manager)."""
        cur = self.store.get(key)
        if cur is None:
            raise self.not_found(key)
        if not isinstance(body, dict):
            raise HTTPError(400, "BadRequest", "the body of the request was in an unknown format")
        if sub in ("status", "approval"):
            new = copy.deepcopy(cur)
            new["status"] = body.get("status", {})
            if (body.get("metadata") or {}).get("resourceVersion"):
                new["metadata"]["resourceVersion"] = body["metadata"]["resourceVersion"]
        else:
            new = copy.deepcopy(body)
            if "status" in cur:
                new["status"] = cur["status"]
            self.written(key, cur, new, api_version, writer)
        return new if dry else self.save(key, cur, new)

    @retried
    def patch(self, key, patch, ctype, sub, api_version, query=None, writer=("", "")):
        cur = self.store.get(key)
        if cur is None:
            raise self.not_found(key)
        new = self.patched(cur, patch, ctype)
        self.validate_fields(new, query or {}, key[1])
        if sub in ("status", "approval"):
            status_only = copy.deepcopy(cur)
            status_only["status"] = new.get("status", {})
            new = status_only
        else:
            if "status" in cur:
                new["status"] = cur["status"]
            self.check_decodable(new, key[0], key[1], writer[0])
            self.written(key, cur, new, api_version, writer)
        return new if dry_run(query or {}) else self.save(key, cur, new)

    def written(self, key, cur, new, api_version, writer):
        """An update of the object itself: validated against the stored one, its writer's fields recorded."""
        kind, manager = writer
        self.refuse_invalid(key[0], key[1], kind or self.kind_of(key[0], key[1]), new, cur)
        new.setdefault("metadata", {})["managedFields"] = managedfields.update(
            cur["metadata"].get("managedFields"), manager, api_version, cur, new, util.rfc3339())

    @retried
    def apply(self, key, body, api_version, query, ident, scope=None):
        """Server-side apply: create, or merge the applied configuration and drop what this field manager
        applied before and no longer does. Fields are owned per manager in metadata.managedFields."""
        group, resource, ns, name = key
        manager = query.get("fieldManager")
        if not manager:
            raise HTTPError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                            'is required for apply patch')
        if not isinstance(body, dict) or not body.get("kind") or not body.get("apiVersion"):
            raise HTTPError(400, "BadRequest", "invalid object type: /, Kind=")
        if (body.get("metadata") or {}).get("name") not in (None, name):
            raise HTTPError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                            % (body["metadata"]["name"], name))
        applied = copy.deepcopy(body)
        applied.get("metadata", {}).pop("managedFields", None)
        self.check_decodable(applied, group, resource, (scope or (None, body["kind"]))[1])
        now = util.rfc3339()
        cur = self.store.get(key)
        if cur is None:
            obj = copy.deepcopy(applied)
            obj.setdefault("metadata", {})["name"] = name
            managed = managedfields.apply([], manager, api_version, {}, obj, applied, now)
            return 201, self.create(group, resource, ns or None, obj, api_version, query, ident, scope, managed)
        managed = cur["metadata"].get("managedFields") or []
        new = managedfields.prune(patches.strategic_merge(cur, applied), managed, manager, applied)
        if "status" in cur:
            new["status"] = cur["status"]
        conflicts = managedfields.conflicts(managed, manager, cur, new)
        if conflicts and query.get("force") not in ("true", "1"):
            raise HTTPError(409, "Conflict", *managedfields.conflict_status(conflicts))
        self.refuse_invalid(group, resource, (scope or (None, body["kind"]))[1], new, cur)
        new["metadata"]["managedFields"] = managedfields.apply(managed, manager, api_version, cur, new, applied, now)
        if query.get("dryRun"):
            return 200, new
        return 200, self.save(key, cur, new)

    def access_review(self, ident, body):
        """SelfSubjectAccessReview (`kubectl auth can-i`): would the fixed policy allow the caller?"""
        review = copy.deepcopy(body or {})
        attrs = (review.get("spec") or {}).get("resourceAttributes")
        if attrs is None:
            allowed = bool(ident.groups & ADMIN_GROUPS or ident.user in ADMIN_USERS)
        else:
            try:
                self.authorize(ident, attrs.get("verb", ""), attrs.get("group", ""), attrs.get("resource", ""),
                               attrs.get("namespace") or None, attrs.get("name") or None,
                               attrs.get("subresource") or None, None)
                allowed = True
            except HTTPError:
                allowed = False
        review["status"] = {"allowed": allowed}
        if allowed:
            review["status"]["reason"] = "allowed by the cluster's fixed policy"
        return review

    def scale_of(self, obj):
        spec, st = obj.get("spec") or {}, obj.get("status") or {}
        ml = (spec.get("selector") or {}).get("matchLabels") or {}
        meta = {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in obj["metadata"]}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
                "spec": {"replicas": spec.get("replicas", 1)},
                "status": {"replicas": st.get("replicas", 0),
                           "selector": ",".join("%s=%s" % kv for kv in sorted(ml.items()))}}

    @retried
    def update_scale(self, key, api_version, change, dry=False):
        cur = self.store.get(key)
        if cur is None:
            raise self.not_found(key)
        scale = change(self.scale_of(cur))
        replicas = ((scale or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise HTTPError(422, "Invalid", 'Scale.autoscaling "%s" is invalid: spec.replicas: Invalid value: %s: '
                            'must be greater than or equal to 0' % (key[3], json.dumps(replicas)))
        new = copy.deepcopy(cur)
        new.setdefault("spec", {})["replicas"] = replicas
        return self.scale_of(new if dry else self.save(key, cur, new))

    @retried
    def evict(self, key, body, dry=False):
        """The pods/eviction subresource, as kube-apiserver's: a finished or pending pod is deleted at once; else the
        one PodDisruptionBudget selecting it (two: refused) must allow a disruption, else 429 with the real message
        and a cause naming the budget. The budget's status is worked out here, as the disruption controller would.
        A dry run checks the same and deletes nothing."""
        with self.evictions:
            return self._evict(key, dry)

    def _evict(self, key, dry):
        pod = self.store.get(key)
        if pod is None:
            raise self.not_found(key)
        if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed", "Pending"):
            budgets = [pdb for pdb in self.store.list("policy", "poddisruptionbudgets", key[2])
                       if disruption.selects((pdb.get("spec") or {}).get("selector"), pod["metadata"].get("labels"))]
            if len(budgets) > 1:
                raise HTTPError(500, "InternalError", "Internal error occurred: This pod has more than one "
                                "PodDisruptionBudget, which the eviction subresource does not support.")
            if budgets:
                self.check_budget(budgets[0], pod, key[2])
        if not dry:
            self.store.delete(key)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def check_budget(self, pdb, pod, namespace):
        healthy, desired, _ = disruption.counts(pdb, self.store.list("", "pods", namespace))
        # an unhealthy pod may go while the budget holds (unhealthyPodEvictionPolicy IfHealthyBudget, the default)
        if not disruption.pod_ready(pod) and healthy >= desired > 0:
            return
        if healthy - desired <= 0:
            raise HTTPError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption "
                            "budget.", {"causes": [{"reason": "DisruptionBudget", "message": "The disruption "
                                        "budget %s needs %d healthy pods and has %d currently"
                                        % (pdb["metadata"]["name"], desired, healthy)}]})

    def save(self, key, cur, new):
        meta = new.setdefault("metadata", {})
        for k in ("uid", "creationTimestamp", "name", "namespace"):
            if k in cur["metadata"]:
                meta[k] = cur["metadata"][k]
        if key[1] == "services":
            self.service_defaults(new, cur)
        if key[1] == "secrets":
            fold_string_data(new)
        if "generation" in cur["metadata"]:
            meta["generation"] = cur["metadata"]["generation"] + (1 if new.get("spec") != cur.get("spec") else 0)
        new.setdefault("apiVersion", cur.get("apiVersion"))
        new.setdefault("kind", cur.get("kind"))
        def strip(o):
            return {k: v for k, v in o.items() if k != "metadata"} | {
                "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}
        # the writer's resourceVersion is a precondition; without one the write is of the version read here
        if meta.get("resourceVersion", cur["metadata"]["resourceVersion"]) != cur["metadata"]["resourceVersion"]:
            raise self.conflict(key)
        if strip(new) == strip(cur):
            return cur
        return self.store.put(key, new, cur["metadata"]["resourceVersion"])

    def conflict(self, key):
        return HTTPError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                         'please apply your changes to the latest version and try again'
                         % (qualified(key[0], key[1]), key[3]), {"name": key[3], "group": key[0], "kind": key[1]})

    def terminate_namespace(self, key, obj):
        """Like the namespace controller: the namespace is Terminating at once (no new content), its content
        and then the namespace itself go a moment later, so deletes that follow still find their objects."""
        if not obj["metadata"].get("deletionTimestamp"):
            obj["metadata"]["deletionTimestamp"] = util.rfc3339()
            obj.setdefault("status", {})["phase"] = "Terminating"
            obj = self.store.put(key, obj, obj["metadata"]["resourceVersion"])
            self.finish_namespace(key)
        return obj

    def finish_namespace(self, key):
        def finish():
            time.sleep(NAMESPACE_CLEANUP_DELAY)
            for _ in range(RETRIES):   # objects changed meanwhile, or another API server finishing it too
                try:
                    for k in self.store.keys_in_namespace(key[3]):
                        self.store.delete(k)
                    self.store.delete(key)
                    return
                except etcdstore.Conflict:
                    continue
                except etcdclient.EtcdError as e:
                    util.klog("E", "namespace %s: deleting its content failed: %s" % (key[3], e))
                    time.sleep(1)
        threading.Thread(target=finish, daemon=True).start()

    @retried
    def delete(self, key, api_version, options=None, kind=None, dry=False):
        """DELETE with its DeleteOptions: preconditions (uid, resourceVersion) are checked against the stored
        object before anything goes, with the real server's Conflict (rest.BeforeDelete). A dry run stops there."""
        obj = self.store.get(key)
        if obj is None:
            raise self.not_found(key)
        check_preconditions(obj, options, key[0], kind or self.kind_of(key[0], key[1]))
        if dry:
            return obj
        if key[:2] == CRDS:   # its custom resources go with it, as the real server's finalizer removes them
            names = (obj.get("spec") or {}).get("names") or {}
            for k in [k for k in list(self.store.objects) if k[:2] == ((obj.get("spec") or {}).get("group"),
                                                                        names.get("plural"))]:
                self.store.delete(k)
        if key[1] == "namespaces":
            if key[3] in INITIAL_NAMESPACES:
                raise HTTPError(403, "Forbidden", 'namespaces "%s" is forbidden: this namespace may not be '
                                'deleted' % key[3])
            return self.terminate_namespace(key, obj)
        self.store.delete(key)
        if key[1] in ("pods", "namespaces", "nodes"):
            return obj
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": key[3], "group": key[0], "kind": key[1], "uid": obj["metadata"].get("uid")}}


def field_manager(query, agent):
    """The request's field manager: fieldManager, else the user agent up to its first `/` (printable, at most
    128 characters), as the real server names it."""
    return query.get("fieldManager") or "".join(c for c in (agent or "").split("/")[0] if c.isprintable())[:128]


def dry_run(query, options=None):
    """dryRun=All as a query parameter, or in a body's DeleteOptions: the request is checked, nothing is stored."""
    return bool(query.get("dryRun")) or (isinstance(options, dict) and bool(options.get("dryRun")))


def read_body(handler):
    """The request's body: Content-Length bytes, or a chunked body (what Go's client sends for a body of unknown
    length, such as `kubectl delete --raw -f -` reading its standard input)."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        data = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if not size:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):   # trailers
                    pass
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def check_preconditions(obj, options, group, kind):
    """DeleteOptions.preconditions against the stored object: a Conflict named by the object's kind, as the
    real server's rest.BeforeDelete answers it."""
    preconditions = (options or {}).get("preconditions") or {} if isinstance(options, dict) else {}
    meta, name = obj["metadata"], obj["metadata"]["name"]
    qualified_kind = kind if not group else "%s.%s" % (kind, group)
    for field, label, why in (("uid", "UID", "deleted and then recreated"),
                              ("resourceVersion", "ResourceVersion", "modified")):
        wanted = preconditions.get(field)
        if wanted is not None and wanted != meta.get(field):
            raise HTTPError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the %s in the precondition '
                            '(%s) does not match the %s in record (%s). The object might have been %s'
                            % (qualified_kind, name, label, wanted, label, meta.get(field, ""), why),
                            {"name": name, "group": group, "kind": kind})


def accept_names(crd):
    """A new CustomResourceDefinition's status: its names accepted and Established (served at once)."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", names.get("kind", "").lower())
    names.setdefault("listKind", names.get("kind", "") + "List")
    now = util.rfc3339()
    crd["status"] = {"acceptedNames": names, "storedVersions": [v["name"] for v in spec.get("versions") or []
                                                                if v.get("storage")],
                     "conditions": [{"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": now}
                                    for t, r, m in (("NamesAccepted", "NoConflicts", "no conflicts found for "
                                                     "the names"),
                                                    ("Established", "InitialNamesAccepted",
                                                     "the initial names have been accepted"))]}


def fold_string_data(secret):
    """A Secret's stringData is write-only: the server merges it into data (base64) and never stores it."""
    string_data = secret.pop("stringData", None) or {}
    if string_data:
        data = secret.setdefault("data", {}) or {}
        secret["data"] = data
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def token_expired(data):
    exp = data.get("expiration")
    if not exp:
        return False
    try:
        return util.parse_rfc3339(exp) <= util.now_utc()
    except ValueError:
        return True


def make_handler(server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kube-apiserver"

        def log_message(self, fmt, *args):
            pass

        def _do(self, method):
            try:
                answer = server.handle(self, method)
                if answer is None:  # a watch stream, already written
                    return
                code, body = answer[:2]
                ctype = answer[2] if len(answer) > 2 else None
            except HTTPError as e:
                code, body, ctype = e.code, e.body, None
            except etcdclient.EtcdError as e:   # etcd away or without a quorum: its words, as the real server
                code, body, ctype = 500, status(500, "", str(e)), None
            except Exception as e:  # keep serving; report like the real server's 500
                util.klog("E", "request %s %s failed: %r" % (method, self.path, e))
                code, body, ctype = 500, status(500, "InternalError", "Internal error occurred: %s" % e), None
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype or ("text/plain; charset=utf-8" if isinstance(body, str)
                                                       else "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._do("GET")

        def do_POST(self):
            self._do("POST")

        def do_PUT(self):
            self._do("PUT")

        def do_PATCH(self):
            self._do("PATCH")

        def do_DELETE(self):
            self._do("DELETE")

    return Handler


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # as Go's servers do: a response's headers and body go out in separate writes, and with Nagle the
        # body would wait for the client's delayed ACK (40 ms on every request)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the TLS handshake happens in the request's thread so a slow client can't stall the server
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.settimeout(30)
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


def bootstrap_namespaces(store):
    for ns in INITIAL_NAMESPACES:
        key = ("", "namespaces", "", ns)
        if store.get(key) is None:
            try:
                store.put(key, {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": ns, "uid": str(uuid.uuid4()), "creationTimestamp": util.rfc3339(),
                                             "labels": {"kubernetes.io/metadata.name": ns}},
                                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
            except etcdstore.Conflict:
                pass   # another API server made it


def main(argv):
    if os.path.exists(CONTROL_PLANE_FAULT):   # the lab's fault (see common.py): this start fails
        util.klog("E", '"command failed" err="context deadline exceeded"')
        return 1
    opts = {}
    for a in argv:  # accept every --flag=value; unknown real flags are harmless here
        if a.startswith("--"):
            k, _, v = a[2:].partition("=")
            opts[k] = v if _ else "true"
    port = int(opts.get("secure-port", "6443"))
    bind = opts.get("bind-address", "0.0.0.0")
    if not opts.get("etcd-servers"):
        util.klog("E", '"command failed" err="[--etcd-servers must be specified]"')
        return 1
    image = os.environ.get("KUBE_IMAGE", "")
    version = image.rsplit(":", 1)[1] if ":" in image else "v" + VERSION
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.get("tls-cert-file", "/etc/kubernetes/pki/apiserver.crt"),
                        opts.get("tls-private-key-file", "/etc/kubernetes/pki/apiserver.key"))
    ctx.load_verify_locations(opts.get("client-ca-file", "/etc/kubernetes/pki/ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    store = etcdstore.Store(etcdclient.Client(opts["etcd-servers"], opts.get("etcd-cafile"),
                                              opts.get("etcd-certfile"), opts.get("etcd-keyfile")),
                            opts.get("etcd-prefix", etcdstore.PREFIX))
    bootstrap_namespaces(store)
    srv = Server(store, version, "%s:%d" % (opts.get("advertise-address", bind), port),
                 opts.get("service-cluster-ip-range", "10.96.0.0/12"),
                 opts.get("service-node-port-range", "30000-32767"))
    for ns in store.list("", "namespaces"):
        if ns["metadata"].get("deletionTimestamp"):   # deleted before a restart: finish the job
            srv.finish_namespace(("", "namespaces", "", ns["metadata"]["name"]))
    for _ in range(60):
        try:
            httpd = TLSServer((bind, port), make_handler(srv), ctx)
            break
        except OSError as e:
            util.klog("E", "failed to listen on %s:%d: %s" % (bind, port, e))
            time.sleep(1)
    else:
        return 1
    util.klog("I", "Serving securely on %s:%d" % (bind, port))
    httpd.serve_forever()
    return 0
