"""kube-apiserver: an HTTPS REST server with the Kubernetes URL layout, storing objects as JSON files.

Authentication: client certificates signed by --client-ca-file (user = CN, groups = O), bootstrap tokens
(Authorization: Bearer <id>.<secret>, checked against kube-system/bootstrap-token-<id> secrets), else
anonymous. Authorization is a fixed policy shaped like kubeadm's RBAC + the Node authorizer.
"""
import base64
import copy
import hashlib
import hmac
import json
import os
import re
import ssl
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kube import util
from kube.client import RESOURCES
from kube.version import VERSION

DEFAULT_STORE = "/var/lib/etcd/registry"
CLUSTER_SCOPED = {p for p, v in RESOURCES.items() if not v[2]} | {"componentstatuses", "flowschemas",
                                                                   "prioritylevelconfigurations",
                                                                   "podsecuritypolicies", "csinodes",
                                                                   "volumeattachments"}
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ADMIN_GROUPS = {"system:masters", "kubeadm:cluster-admins"}
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


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (also used for strategic merge patches: lists are replaced)."""
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
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
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
        else:
            if kind in ("add", "replace"):
                parent[last] = op["value"]
            elif kind == "remove":
                if last not in parent:
                    raise HTTPError(422, "Invalid", "the server rejected our request due to an error in our request")
                del parent[last]
            elif kind == "test" and parent.get(last) != op.get("value"):
                raise HTTPError(422, "Invalid", "testing value failed")
    return doc


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


class Store:
    """Objects in memory, written through to one JSON file each under the data dir."""

    def __init__(self, root):
        self.root = root
        self.lock = threading.RLock()
        self.objects = {}
        self.rv = 0
        os.makedirs(root, exist_ok=True)
        for dirpath, _, files in os.walk(root):
            for fn in files:
                if not fn.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(dirpath, fn)) as f:
                        rec = json.load(f)
                except (OSError, ValueError):
                    continue
                key = tuple(rec["key"])
                self.objects[key] = rec["object"]
                self.rv = max(self.rv, int(rec["object"].get("metadata", {}).get("resourceVersion", "0")))

    def _path(self, key):
        group, resource, ns, name = key
        return os.path.join(self.root, group or "core", resource, ns or "_cluster", name + ".json")

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def put(self, key, obj):
        with self.lock:
            obj.setdefault("metadata", {})["resourceVersion"] = self.next_rv()
            self.objects[key] = obj
            util.write_file(self._path(key), json.dumps({"key": list(key), "object": obj}))
            return copy.deepcopy(obj)

    def get(self, key):
        with self.lock:
            o = self.objects.get(key)
            return copy.deepcopy(o) if o is not None else None

    def delete(self, key):
        with self.lock:
            o = self.objects.pop(key, None)
            try:
                os.unlink(self._path(key))
            except OSError:
                pass
            return o

    def list(self, group, resource, ns=None):
        with self.lock:
            out = [copy.deepcopy(o) for (g, r, n, _), o in self.objects.items()
                   if g == group and r == resource and (ns is None or n == ns)]
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return out

    def keys_in_namespace(self, ns):
        with self.lock:
            return [k for k in self.objects if k[2] == ns]


class Identity:
    def __init__(self, user, groups):
        self.user = user
        self.groups = set(groups)


class Server:
    def __init__(self, store, version):
        self.store = store
        self.version = version

    # ---- authentication -------------------------------------------------------------------------
    def authenticate(self, handler):
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
        what = 'resource "%s" in API group "%s"' % (resource if not sub else resource + "/" + sub, group)
        scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
        target = '%s "%s"' % (qualified(group, resource), name) if name else qualified(group, resource)
        raise HTTPError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s %s %s'
                        % (target, ident.user, verb, what, scope),
                        {"name": name, "group": group, "kind": resource} if name else
                        {"group": group, "kind": resource})

    # ---- requests -------------------------------------------------------------------------------
    def handle(self, handler, method):
        u = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(u.query))
        parts = [p for p in u.path.split("/") if p]
        body = None
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            raw = handler.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                raise HTTPError(400, "BadRequest", "couldn't get version/kind; json parse error")
        ident = self.authenticate(handler)
        if u.path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok"
        if u.path == "/version":
            major, minor = self.version.lstrip("v").split(".")[:2]
            return 200, {"major": major, "minor": minor, "gitVersion": self.version,
                         "gitTreeState": "clean", "goVersion": "go1.22.8", "compiler": "gc",
                         "platform": "linux/amd64"}
        if u.path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        if u.path == "/apis":
            groups = sorted({v[0] for v in RESOURCES.values() if "/" in v[0]})
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g.split("/")[0], "versions": [{"groupVersion": g, "version": g.split("/")[1]}],
                 "preferredVersion": {"groupVersion": g, "version": g.split("/")[1]}} for g in groups]}
        # /api/v1/... or /apis/<group>/<version>/...
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            if ident.user == "system:anonymous":
                raise HTTPError(403, "Forbidden", 'forbidden: User "system:anonymous" cannot get path "%s"'
                                % u.path)
            raise HTTPError(404, "NotFound", "the server could not find the requested resource")
        ns = None
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            ns, rest = rest[1], rest[2:]
        if not rest:
            return 200, {"kind": "APIResourceList", "groupVersion": version if not group else group + "/" + version,
                         "resources": []}
        resource, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
        if resource == "namespaces" and ns is None and name and sub is None and len(rest) == 2:
            pass
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}[method]
        if query.get("watch") in ("1", "true"):
            verb = "watch"
        self.authorize(ident, verb, group, resource, ns, name, sub, body)
        api_version = version if not group else "%s/%s" % (group, version)
        if resource in CLUSTER_SCOPED:
            ns = None
        key = (group, resource, ns or "", name)
        if method == "GET" and name:
            return 200, self.get(key, api_version, ident)
        if method == "GET":
            return 200, self.list(group, resource, ns, api_version, query)
        if method == "POST":
            if name and sub is None:
                raise HTTPError(405, "MethodNotAllowed",
                                "the server does not allow this method on the requested resource")
            return 201, self.create(group, resource, ns, body, api_version, query, ident)
        if method == "PUT":
            return 200, self.update(key, body, sub, api_version)
        if method == "PATCH":
            ctype = (handler.headers.get("Content-Type") or "").split(";")[0]
            return 200, self.patch(key, body, ctype, sub, api_version)
        if method == "DELETE":
            return 200, self.delete(key, api_version)
        raise HTTPError(405, "MethodNotAllowed", "method not allowed")

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

    def list(self, group, resource, ns, api_version, query):
        items = self.store.list(group, resource, ns)
        items = [o for o in items if match_labels(o["metadata"].get("labels"), query.get("labelSelector"))
                 and match_fields(o, query.get("fieldSelector"))]
        kind = RESOURCES.get(resource, (None, resource.capitalize()))[1]
        for o in items:
            o.setdefault("apiVersion", api_version)
            o.setdefault("kind", kind)
        return {"kind": kind + "List", "apiVersion": api_version,
                "metadata": {"resourceVersion": str(self.store.rv)}, "items": items}

    def create(self, group, resource, ns, body, api_version, query, ident):
        if not isinstance(body, dict):
            raise HTTPError(400, "BadRequest", "the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise HTTPError(422, "Invalid", "%s \"\" is invalid: metadata.name: Required value: name or "
                            "generateName is required" % RESOURCES.get(resource, ("", resource))[1])
        if resource not in CLUSTER_SCOPED:
            ns = ns or meta.get("namespace") or "default"
            if meta.get("namespace") and meta["namespace"] != ns:
                raise HTTPError(400, "BadRequest", "the namespace of the provided object does not match the "
                                "namespace sent on the request")
            if self.store.get(("", "namespaces", "", ns)) is None:
                raise HTTPError(404, "NotFound", 'namespaces "%s" not found' % ns,
                                {"name": ns, "kind": "namespaces"})
            meta["namespace"] = ns
        key = (group, resource, ns or "", name)
        if self.store.get(key) is not None:
            raise HTTPError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(group, resource), name),
                            {"name": name, "group": group, "kind": resource})
        if query.get("dryRun"):
            return obj
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = util.rfc3339()
        if resource not in ("nodes", "pods", "configmaps", "secrets", "namespaces", "events", "leases"):
            meta["generation"] = 1
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", RESOURCES.get(resource, (None, resource))[1])
        if resource == "namespaces":
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if resource == "pods":
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        if resource == "certificatesigningrequests":
            obj.setdefault("spec", {})["username"] = ident.user
            obj["spec"]["groups"] = sorted(ident.groups)
            obj["status"] = {}
        if resource == "secrets" and obj.get("stringData"):
            data = obj.setdefault("data", {})
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(v.encode()).decode()
        return self.store.put(key, obj)

    def update(self, key, body, sub, api_version):
        cur = self.store.get(key)
        if cur is None:
            raise self.not_found(key)
        if not isinstance(body, dict):
            raise HTTPError(400, "BadRequest", "the body of the request was in an unknown format")
        if sub in ("status", "approval"):
            new = copy.deepcopy(cur)
            new["status"] = body.get("status", {})
        else:
            new = copy.deepcopy(body)
            if "status" in cur:
                new["status"] = cur["status"]
        return self.save(key, cur, new)

    def patch(self, key, patch, ctype, sub, api_version):
        cur = self.store.get(key)
        if cur is None:
            raise self.not_found(key)
        if ctype == "application/json-patch+json":
            new = json_patch(cur, patch or [])
        else:
            new = merge_patch(cur, patch or {})
        if sub in ("status", "approval"):
            status_only = copy.deepcopy(cur)
            status_only["status"] = new.get("status", {})
            new = status_only
        elif "status" in cur:
            new["status"] = cur["status"]
        return self.save(key, cur, new)

    def save(self, key, cur, new):
        meta = new.setdefault("metadata", {})
        for k in ("uid", "creationTimestamp", "name", "namespace"):
            if k in cur["metadata"]:
                meta[k] = cur["metadata"][k]
        if "generation" in cur["metadata"]:
            meta["generation"] = cur["metadata"]["generation"] + (1 if new.get("spec") != cur.get("spec") else 0)
        new.setdefault("apiVersion", cur.get("apiVersion"))
        new.setdefault("kind", cur.get("kind"))
        def strip(o):
            return {k: v for k, v in o.items() if k != "metadata"} | {
                "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}
        if strip(new) == strip(cur):
            return cur
        return self.store.put(key, new)

    def delete(self, key, api_version):
        obj = self.store.get(key)
        if obj is None:
            raise self.not_found(key)
        if key[1] == "namespaces":
            if key[3] in INITIAL_NAMESPACES:
                raise HTTPError(403, "Forbidden", 'namespaces "%s" is forbidden: this namespace may not be '
                                'deleted' % key[3])
            for k in self.store.keys_in_namespace(key[3]):
                self.store.delete(k)
        self.store.delete(key)
        if key[1] in ("pods", "namespaces", "nodes"):
            return obj
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": key[3], "group": key[0], "kind": key[1], "uid": obj["metadata"].get("uid")}}


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
                code, body = server.handle(self, method)
            except HTTPError as e:
                code, body = e.code, e.body
            except Exception as e:  # keep serving; report like the real server's 500
                util.klog("E", "request %s %s failed: %r" % (method, self.path, e))
                code, body = 500, status(500, "InternalError", "Internal error occurred: %s" % e)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8" if isinstance(body, str)
                             else "application/json")
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
            store.put(key, {"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": ns, "uid": str(uuid.uuid4()), "creationTimestamp": util.rfc3339(),
                                         "labels": {"kubernetes.io/metadata.name": ns}},
                            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})


def main(argv):
    opts = {}
    for a in argv:  # accept every --flag=value; unknown real flags are harmless here
        if a.startswith("--"):
            k, _, v = a[2:].partition("=")
            opts[k] = v if _ else "true"
    port = int(opts.get("secure-port", "6443"))
    bind = opts.get("bind-address", "0.0.0.0")
    store_dir = os.environ.get("KUBE_APISERVER_STORE", DEFAULT_STORE)
    image = os.environ.get("KUBE_IMAGE", "")
    version = image.rsplit(":", 1)[1] if ":" in image else "v" + VERSION
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.get("tls-cert-file", "/etc/kubernetes/pki/apiserver.crt"),
                        opts.get("tls-private-key-file", "/etc/kubernetes/pki/apiserver.key"))
    ctx.load_verify_locations(opts.get("client-ca-file", "/etc/kubernetes/pki/ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    store = Store(store_dir)
    bootstrap_namespaces(store)
    srv = Server(store, version)
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
