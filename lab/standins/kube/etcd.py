"""An etcd v3 client over etcd's JSON gateway (/v3/kv/range, /v3/kv/txn, /v3/watch, /v3/cluster/member/...) on
HTTPS with a client certificate, as kube-apiserver's --etcd-* flags and kubeadm's etcd client give them. Standard
library only: the stand-ins run on the host's python3."""
import base64
import http.client
import json
import socket
import ssl
import threading
import urllib.parse

TIMEOUT = 10.0   # seconds an etcd request may take (etcd's own request timeout is 7 s when it has no quorum)


class EtcdError(Exception):
    """etcd's answer to a failed request, or why no member answered (in etcd's or Go's words)."""


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def unb64(text):
    return base64.b64decode(text or "")


def prefix_end(prefix):
    """The range end that covers every key starting with prefix (etcd's GetPrefixRangeEnd)."""
    raw = bytearray(prefix.encode())
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return bytes(raw)
        raw.pop()
    return b"\0"


class Client:
    def __init__(self, endpoints, ca, cert, key, timeout=TIMEOUT):
        """endpoints: "https://127.0.0.1:2379,..." (or a list); ca, cert, key: file paths."""
        if isinstance(endpoints, str):
            endpoints = [e for e in endpoints.split(",") if e]
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)
        self.local = threading.local()

    def _connect(self, endpoint, timeout):
        u = urllib.parse.urlsplit(endpoint)
        return http.client.HTTPSConnection(u.hostname, u.port or 2379, context=self.ctx, timeout=timeout)

    def call(self, path, body, endpoint=None, timeout=None):
        """POST body (a dict) to path on the endpoint in use (or the one given), the next ones while it does not
        answer; returns etcd's JSON answer. A kept connection per thread and endpoint."""
        order = [endpoint] if endpoint else self.endpoints
        conns = self.local.__dict__.setdefault("conns", {})
        last = None
        for ep in order:
            for attempt in (1, 2):   # a kept connection the server closed: once more on a new one
                conn = conns.get(ep) or self._connect(ep, timeout or self.timeout)
                conns[ep] = conn
                conn.timeout = timeout or self.timeout
                try:
                    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    data = r.read()
                except socket.timeout:
                    conn.close()
                    conns.pop(ep, None)
                    raise EtcdError("etcdserver: request timed out") from None
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conns.pop(ep, None)
                    last = e
                    if attempt == 1 and isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError,
                                                       ConnectionResetError)):
                        continue
                    break
                answer = json.loads(data or b"{}")
                if r.status != 200:
                    raise EtcdError(answer.get("error") or answer.get("message") or "etcd answered %d" % r.status)
                return answer
        host = urllib.parse.urlsplit(order[-1]).netloc
        reason = getattr(last, "strerror", None) or str(last)
        raise EtcdError('dial tcp %s: connect: %s' % (host, reason.lower() if reason else "connection refused"))

    # ---- key-value ----------------------------------------------------------------------------------
    def range(self, key, range_end=None, **options):
        body = dict(options, key=b64(key))
        if range_end is not None:
            body["range_end"] = b64(range_end)
        return self.call("/v3/kv/range", body)

    def revision(self):
        """The cluster's current revision, by a linearizable read (it needs a quorum)."""
        return int(self.range("\0", count_only=True)["header"]["revision"])

    def txn(self, compare, success, failure=()):
        return self.call("/v3/kv/txn", {"compare": compare, "success": list(success), "failure": list(failure)})

    def compact(self, revision):
        return self.call("/v3/kv/compaction", {"revision": str(revision)})

    def watch(self, key, range_end, start_revision, timeout=None):
        """The watch's responses (each its "result"), one by one, until the connection ends."""
        endpoint = self.endpoints[0]
        conn = self._connect(endpoint, timeout)
        try:
            conn.request("POST", "/v3/watch", json.dumps({"create_request": {
                "key": b64(key), "range_end": b64(range_end), "start_revision": str(start_revision),
                "progress_notify": True}}), {"Content-Type": "application/json"})
            r = conn.getresponse()
            if r.status != 200:
                raise EtcdError("watch: etcd answered %d: %s" % (r.status, r.read()[:200]))
            while True:
                line = r.readline()
                if not line:
                    return
                if line.strip():
                    message = json.loads(line)
                    if "error" in message:
                        raise EtcdError(message["error"].get("message", str(message["error"])))
                    yield message.get("result") or {}
        finally:
            conn.close()

    # ---- cluster ------------------------------------------------------------------------------------
    def members(self, endpoint=None):
        return self.call("/v3/cluster/member/list", {}, endpoint).get("members") or []

    def add_member(self, peer_urls, learner=False):
        return self.call("/v3/cluster/member/add", {"peerURLs": list(peer_urls), "isLearner": learner})

    def promote_member(self, member_id):
        return self.call("/v3/cluster/member/promote", {"ID": str(member_id)})

    def remove_member(self, member_id):
        return self.call("/v3/cluster/member/remove", {"ID": str(member_id)})

    def status(self, endpoint):
        return self.call("/v3/maintenance/status", {}, endpoint)
