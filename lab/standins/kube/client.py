"""Kubeconfig files and a small HTTPS REST client for the API server (client certs or bearer tokens)."""
import base64
import contextlib
import http.client
import json
import os
import random
import select
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

from kube import util
from kube.version import VERSION

# seconds an idle connection is used again: well within the API server's idle timeout (30 s here)
KEEP_ALIVE = 10


class ApiError(Exception):
    """An HTTP error answered by the API server, carrying its Status object."""

    def __init__(self, code, status):
        self.code = code
        self.status = status if isinstance(status, dict) else {}
        self.reason = self.status.get("reason") or http.client.responses.get(code, "Unknown")
        self.message = self.status.get("message") or str(status)
        super().__init__(self.message)

    def kubectl_text(self):
        if self.code == 401:
            return "error: You must be logged in to the server (Unauthorized)"
        return "Error from server (%s): %s" % (self.reason, self.message)


class ConnectError(Exception):
    """The server could not be reached; text follows Go's net errors (dial tcp ...: connect: ...)."""

    def __init__(self, host, port, detail, refused=False, tls=False):
        self.host, self.port, self.detail, self.refused, self.tls = host, port, detail, refused, tls
        super().__init__(detail)

    def kubectl_text(self):
        if self.refused:
            return ("The connection to the server %s:%s was refused - did you specify the right host or port?"
                    % (self.host, self.port))
        return "Unable to connect to the server: %s" % self.detail


def default_kubeconfig_path():
    env = os.environ.get("KUBECONFIG")
    if env:
        for p in env.split(":"):
            if p and os.path.exists(p):
                return p
        return env.split(":")[0]
    return os.path.join(os.path.expanduser("~"), ".kube", "config")


def load_kubeconfig(path):
    text = util.read_text(path)
    if text is None:
        raise FileNotFoundError(path)
    docs = util.yaml_load_all(text)
    return docs[0] if docs else {}


def _named(items, name):
    for it in items or []:
        if it.get("name") == name:
            return it
    return None


def _data(entry, key, base_dir):
    """Inline *-data (base64) or a file path, relative to the kubeconfig's directory like kubectl."""
    if entry.get(key + "-data"):
        return base64.b64decode(entry[key + "-data"])
    if entry.get(key):
        p = entry[key]
        if not os.path.isabs(p):
            p = os.path.join(base_dir, p)
        with open(p, "rb") as f:
            return f.read()
    return None


def client_from_kubeconfig(path, context=None, timeout=30, server=None):
    cfg = load_kubeconfig(path)
    base = os.path.dirname(os.path.abspath(path))
    ctx_name = context or cfg.get("current-context")
    ctx = (_named(cfg.get("contexts"), ctx_name) or {}).get("context")
    if not ctx:
        raise ValueError('context was not found for specified context: %s' % ctx_name if ctx_name else
                         "invalid configuration: no configuration has been provided")
    cluster = (_named(cfg.get("clusters"), ctx.get("cluster")) or {}).get("cluster") or {}
    user = (_named(cfg.get("users"), ctx.get("user")) or {}).get("user") or {}
    return Client(server or cluster.get("server"), ca=_data(cluster, "certificate-authority", base),
                  cert=_data(user, "client-certificate", base), key=_data(user, "client-key", base),
                  token=user.get("token"), insecure=bool(cluster.get("insecure-skip-tls-verify")),
                  timeout=timeout)


def make_kubeconfig(server, ca_pem, user, cluster="kubernetes", cert_pem=None, key_pem=None, token=None,
                    cert_file=None, key_file=None):
    """Kubeconfig text shaped like kubeadm's (embedded base64 data unless file paths are given)."""
    u = {}
    if cert_file:
        u["client-certificate"] = cert_file
        u["client-key"] = key_file
    elif cert_pem:
        u["client-certificate-data"] = util_b64(cert_pem)
        u["client-key-data"] = util_b64(key_pem)
    if token:
        u["token"] = token
    ctx = "%s@%s" % (user, cluster)
    cfg = {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": util_b64(ca_pem), "server": server},
                      "name": cluster}],
        "contexts": [{"context": {"cluster": cluster, "user": user}, "name": ctx}],
        "current-context": ctx,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user, "user": u}],
    }
    return util.yaml_dump(cfg)


def util_b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


class Client:
    def __init__(self, server, ca=None, cert=None, key=None, token=None, insecure=False, timeout=30):
        u = urllib.parse.urlsplit(server or "http://localhost:8080")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.server = "%s://%s" % (u.scheme, u.netloc)
        self.token = token
        self.timeout = timeout
        self._kept = threading.local()
        self.ctx = None
        if self.scheme == "https":
            if insecure or not ca:
                self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                self.ctx.check_hostname = False
                self.ctx.verify_mode = ssl.CERT_NONE
            else:
                self.ctx = ssl.create_default_context(cadata=ca.decode() if isinstance(ca, bytes) else ca)
            if cert and key:
                with tempfile.TemporaryDirectory() as d:
                    cp, kp = os.path.join(d, "c"), os.path.join(d, "k")
                    util.write_file(cp, cert)
                    util.write_file(kp, key)
                    self.ctx.load_cert_chain(cp, kp)

    def hostport(self):
        return "%s:%s" % (self.host, self.port)

    def _path(self, path, query):
        if query:
            q = {k: v for k, v in query.items() if v not in (None, "")}
            if q:
                path += ("&" if "?" in path else "?") + urllib.parse.urlencode(q)
        return path

    def _headers(self):
        agent = "%s/v%s (linux/amd64) kubernetes" % (os.path.basename(sys.argv[0]), VERSION)
        headers = {"Accept": "application/json", "User-Agent": agent}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    def _connection(self, timeout):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    @contextlib.contextmanager
    def _net_errors(self):
        """Network and TLS failures as ConnectError, worded like Go's."""
        try:
            yield
        except ssl.SSLCertVerificationError as e:
            raise ConnectError(self.host, self.port, "tls: failed to verify certificate: x509: %s" % _x509_text(e),
                               tls=True)
        except ssl.SSLError as e:
            raise ConnectError(self.host, self.port, "remote error: tls: %s" % (e.reason or e).__str__().lower(),
                               tls=True)
        except ConnectionRefusedError:
            raise ConnectError(self.host, self.port, "dial tcp %s: connect: connection refused" % self.hostport(),
                               refused=True)
        except (socket.timeout, TimeoutError):
            raise ConnectError(self.host, self.port, "dial tcp %s: i/o timeout" % self.hostport())
        except OSError as e:
            text = {113: "no route to host", 101: "network is unreachable", 104: "connection reset by peer"}.get(
                e.errno, os.strerror(e.errno) if e.errno else str(e))
            raise ConnectError(self.host, self.port, "dial tcp %s: connect: %s" % (self.hostport(), text.lower()))
        except http.client.HTTPException as e:   # e.g. a stream cut in the middle of a chunk
            raise ConnectError(self.host, self.port, "unexpected EOF (%s)" % e)

    def request(self, method, path, body=None, content_type="application/json", query=None, timeout=None):
        path = self._path(path, query)
        headers = self._headers()
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        conn = self._idle_connection(timeout or self.timeout) or self._connection(timeout or self.timeout)
        kept = False
        try:
            with self._net_errors():
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            kept = not resp.will_close
        finally:
            if kept:
                self._kept.conn, self._kept.since = conn, time.monotonic()
            else:
                conn.close()
        return _answer(resp.status, raw)

    def _idle_connection(self, timeout):
        """This thread's connection of its last request, kept alive (as Go's clients keep theirs) to spare a TLS
        handshake per request. Taken only while the server surely keeps it too: idle for less than KEEP_ALIVE
        and not closed meanwhile (an idle connection with something to read was closed by the server)."""
        conn, since = getattr(self._kept, "conn", None), getattr(self._kept, "since", 0)
        self._kept.conn = None
        if conn is None or conn.sock is None:
            return None
        if time.monotonic() - since > KEEP_ALIVE or select.select([conn.sock], [], [], 0)[0]:
            conn.close()
            return None
        conn.sock.settimeout(timeout)
        return conn

    def watch(self, path, resource_version="", timeout_seconds=300, **query):
        """Yields the events of a watch=true stream from resource_version ("": the current objects first, as
        ADDED), each {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}, until the server ends it
        after timeout_seconds. An ERROR event carries a Status (code 410: resource_version is too old)."""
        path = self._path(path, dict(query, watch="true", resourceVersion=resource_version,
                                     timeoutSeconds=str(timeout_seconds)))
        conn = self._connection(self.timeout)
        try:
            with self._net_errors():
                conn.request("GET", path, headers=self._headers())
                sock = conn.sock   # kept: a response that will close the connection takes it from conn
                resp = conn.getresponse()
                if resp.status >= 400:
                    _answer(resp.status, resp.read())
                # an idle stream sends nothing: a read only times out once the server should have ended it
                sock.settimeout(timeout_seconds + self.timeout)
                for line in resp:
                    if line.strip():
                        yield json.loads(line)
        finally:
            conn.close()

    def get(self, path, **query):
        return self.request("GET", path, query=query)

    def create(self, path, obj):
        return self.request("POST", path, obj)

    def replace(self, path, obj):
        return self.request("PUT", path, obj)

    def patch(self, path, patch, kind="merge"):
        ct = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
              "strategic": "application/strategic-merge-patch+json"}[kind]
        return self.request("PATCH", path, patch, content_type=ct)

    def delete(self, path):
        return self.request("DELETE", path)


class Changes:
    """Tells when any of some API collections changed, as an informer's event handlers tell a controller's work
    queue. A daemon thread per collection lists it, then watches it from the list's resourceVersion; a watch
    that ends is started again where it stopped, one whose resourceVersion the server refuses (410: too old;
    too large once its store was reset) after a new list. While the API server cannot be reached, it tries
    again with a growing pause (up to 2 s). With a fingerprint (object -> what matters of it), a change that
    leaves an object's fingerprint as it was wakes nobody."""

    def __init__(self, api, paths, fingerprint=None, **query):
        self.api = api
        self.fingerprint = fingerprint
        self.changed = threading.Event()
        self.closed = False
        for path in paths:
            threading.Thread(target=self._follow, args=(path, query), daemon=True).start()

    def wait(self, timeout):
        """True at once if something changed since the last wait returned, else after the next change;
        False after timeout seconds without one. All the changes before it returns count as one."""
        changed = self.changed.wait(timeout)
        self.changed.clear()
        return changed

    def close(self):
        """Wakes the waiter; the threads stop at their next event or reconnection."""
        self.closed = True
        self.changed.set()

    def _follow(self, path, query):
        rv, delay, seen = "", 0.0, {}
        while not self.closed:
            time.sleep(delay)
            started = time.monotonic()
            try:
                if not rv:
                    listed = self.api.get(path, **query)
                    rv = listed["metadata"].get("resourceVersion", "")
                    seen = {_key(o): self.fingerprint(o) for o in listed["items"]} if self.fingerprint else {}
                    self.changed.set()   # whatever happened while nobody was watching
                # like client-go, a random timeout so that many watchers do not reconnect together
                for event in self.api.watch(path, rv, random.randint(300, 600), **query):
                    if self.closed:
                        return
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        raise ApiError(obj.get("code") or 500, obj)
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if event.get("type") != "BOOKMARK" and self._matters(seen, event["type"], obj):
                        self.changed.set()
                delay = 0.0
            except (ApiError, ConnectError, ValueError) as e:
                if isinstance(e, ApiError):   # the resourceVersion was refused: list again
                    rv = ""
                if getattr(e, "code", None) == 410:
                    delay = 0.0
                    continue
                # a watch that had been running is started again soon; one that cannot start backs off
                delay = 0.1 if time.monotonic() - started > 10 else min(delay * 2 or 0.1, 2.0)
                if delay == 0.1:
                    util.klog("W", "watch of %s failed (trying again): %s" % (path, e))

    def _matters(self, seen, kind, obj):
        if self.fingerprint is None:
            return True
        key = _key(obj)
        if kind == "DELETED":
            seen.pop(key, None)
            return True
        old, seen[key] = seen.get(key), self.fingerprint(obj)
        return seen[key] != old


def _key(obj):
    return (obj["metadata"].get("namespace"), obj["metadata"]["name"])


def _answer(code, raw):
    try:
        obj = json.loads(raw) if raw else {}
    except ValueError:
        obj = {"message": raw.decode(errors="replace")}
    if code >= 400:
        raise ApiError(code, obj)
    return obj


def _x509_text(err):
    msg = getattr(err, "verify_message", "") or str(err)
    if "unable to get local issuer" in msg or "self-signed" in msg or "self signed" in msg:
        return ('certificate signed by unknown authority (possibly because of "crypto/rsa: verification error" '
                'while trying to verify candidate authority certificate "kubernetes")')
    if "IP address mismatch" in msg or "Hostname mismatch" in msg:
        return "certificate is not valid for the requested host (%s)" % msg
    if "expired" in msg:
        return "certificate has expired or is not yet valid"
    return msg


# resources: plural name -> (group/version, Kind, namespaced)
RESOURCES = {
    "namespaces": ("v1", "Namespace", False), "nodes": ("v1", "Node", False),
    "pods": ("v1", "Pod", True), "services": ("v1", "Service", True),
    "configmaps": ("v1", "ConfigMap", True), "secrets": ("v1", "Secret", True),
    "serviceaccounts": ("v1", "ServiceAccount", True), "endpoints": ("v1", "Endpoints", True),
    "events": ("v1", "Event", True), "persistentvolumes": ("v1", "PersistentVolume", False),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim", True),
    "resourcequotas": ("v1", "ResourceQuota", True), "limitranges": ("v1", "LimitRange", True),
    "replicationcontrollers": ("v1", "ReplicationController", True),
    "daemonsets": ("apps/v1", "DaemonSet", True), "deployments": ("apps/v1", "Deployment", True),
    "replicasets": ("apps/v1", "ReplicaSet", True), "statefulsets": ("apps/v1", "StatefulSet", True),
    "jobs": ("batch/v1", "Job", True), "cronjobs": ("batch/v1", "CronJob", True),
    "clusterroles": ("rbac.authorization.k8s.io/v1", "ClusterRole", False),
    "clusterrolebindings": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False),
    "roles": ("rbac.authorization.k8s.io/v1", "Role", True),
    "rolebindings": ("rbac.authorization.k8s.io/v1", "RoleBinding", True),
    "leases": ("coordination.k8s.io/v1", "Lease", True),
    "certificatesigningrequests": ("certificates.k8s.io/v1", "CertificateSigningRequest", False),
    "customresourcedefinitions": ("apiextensions.k8s.io/v1", "CustomResourceDefinition", False),
    "storageclasses": ("storage.k8s.io/v1", "StorageClass", False),
    "csidrivers": ("storage.k8s.io/v1", "CSIDriver", False),
    "priorityclasses": ("scheduling.k8s.io/v1", "PriorityClass", False),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy", True),
    "ingresses": ("networking.k8s.io/v1", "Ingress", True),
    "ingressclasses": ("networking.k8s.io/v1", "IngressClass", False),
    "poddisruptionbudgets": ("policy/v1", "PodDisruptionBudget", True),
    "validatingwebhookconfigurations": ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", False),
    "mutatingwebhookconfigurations": ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", False),
    "apiservices": ("apiregistration.k8s.io/v1", "APIService", False),
    "runtimeclasses": ("node.k8s.io/v1", "RuntimeClass", False),
}
KIND_TO_RESOURCE = {v[1]: k for k, v in RESOURCES.items()}
SHORT_NAMES = {"no": "nodes", "node": "nodes", "ns": "namespaces", "namespace": "namespaces", "po": "pods",
               "pod": "pods", "svc": "services", "service": "services", "cm": "configmaps",
               "configmap": "configmaps", "secret": "secrets", "sa": "serviceaccounts",
               "serviceaccount": "serviceaccounts", "ds": "daemonsets", "daemonset": "daemonsets",
               "deploy": "deployments", "deployment": "deployments", "rs": "replicasets",
               "replicaset": "replicasets", "sts": "statefulsets", "csr": "certificatesigningrequests",
               "ev": "events", "event": "events", "lease": "leases", "crd": "customresourcedefinitions",
               "ep": "endpoints", "pv": "persistentvolumes", "pvc": "persistentvolumeclaims",
               "job": "jobs", "cj": "cronjobs", "clusterrole": "clusterroles",
               "clusterrolebinding": "clusterrolebindings", "role": "roles", "rolebinding": "rolebindings",
               "sc": "storageclasses", "pc": "priorityclasses", "netpol": "networkpolicies",
               "ing": "ingresses", "pdb": "poddisruptionbudgets"}


def resource_for(kind, api_version):
    """(plural, namespaced) for a manifest kind; unknown kinds are guessed like a discovery-less client."""
    if kind in KIND_TO_RESOURCE:
        plural = KIND_TO_RESOURCE[kind]
        return plural, RESOURCES[plural][2]
    low = kind.lower()
    plural = low + ("es" if low.endswith("s") else "s")
    if low.endswith("y"):
        plural = low[:-1] + "ies"
    return plural, True


def resource_path(api_version, plural, namespace=None, name=None, sub=None):
    base = "/api/v1" if api_version == "v1" else "/apis/" + api_version
    p = base
    if namespace:
        p += "/namespaces/" + namespace
    p += "/" + plural
    if name:
        p += "/" + name
    if sub:
        p += "/" + sub
    return p
