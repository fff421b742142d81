"""The API server's storage: its objects in etcd, as kube-apiserver keeps them, and a watch cache fed by an etcd
watch so that every API server sharing the etcd cluster sees (and streams to its watchers) every change, whichever
server wrote it.

- Keys: /registry/<resource>/<namespace>/<name> (cluster-scoped: /registry/<resource>/<name>), with the real
  server's few exceptions (nodes under minions, services under services/specs, replication controllers under
  controllers) and a group prefix for resources of other groups (custom resources:
  /registry/<group>/<plural>/...). Values are the objects as JSON (the real server writes protobuf for its own
  kinds), without their resourceVersion: that is the key's mod_revision, as for the real server.
- Writes are transactions guarded by the object's mod_revision (a create by the key's absence): a write that lost
  a race raises Conflict, and returns only once this server's cache has seen it.
- Reads (get, list) are served from the cache; sync() first waits until the cache has caught up with etcd's
  current revision (a linearizable read, as the real server's consistent reads from its cache), so a client sees
  its own writes whichever server it asks next.

The interface is the one apiserver.py used before: lock, changed, objects, rv, events, get, put, delete, list,
keys_in_namespace, events_after, oldest_event_rv.
"""
import collections
import copy
import json
import threading
import time

from kube import util
from kube.client import RESOURCES
from kube.etcd import EtcdError, b64, prefix_end, unb64

PREFIX = "/registry"
# the real server's keys that are not the resource's name
SPECIAL = {"nodes": "minions", "services": "services/specs", "replicationcontrollers": "controllers"}
CATCH_UP_TIMEOUT = 10.0   # seconds a read or write waits for the watch to bring the revision it needs
COMPACTION_INTERVAL = 300.0   # kube-apiserver's --etcd-compaction-interval default (5m)


class Conflict(Exception):
    """A write guarded by a mod_revision that etcd no longer has (or a create of a key that exists)."""


def canonical_group(resource):
    gv = RESOURCES.get(resource, (None,))[0]
    return None if gv is None else gv.rpartition("/")[0]


def etcd_key(key, prefix=PREFIX):
    group, resource, ns, name = key
    if canonical_group(resource) == group:
        path = SPECIAL.get(resource, resource)
    else:
        path = "%s/%s" % (group or "core", resource)
    return "%s/%s/%s" % (prefix, path, "%s/%s" % (ns, name) if ns else name)


def store_key(ekey, prefix=PREFIX):
    """The (group, resource, namespace, name) of an etcd key, or None for a key that is not an object's."""
    if not ekey.startswith(prefix + "/"):
        return None
    parts = ekey[len(prefix) + 1:].split("/")
    for resource, special in SPECIAL.items():
        if parts[:special.count("/") + 1] == special.split("/"):
            group, parts = canonical_group(resource), parts[special.count("/") + 1:]
            break
    else:
        if canonical_group(parts[0]) is not None:
            group, resource, parts = canonical_group(parts[0]), parts[0], parts[1:]
        elif len(parts) >= 3:
            group, resource, parts = ("" if parts[0] == "core" else parts[0]), parts[1], parts[2:]
        else:
            return None
    if len(parts) == 1:
        return (group, resource, "", parts[0])
    if len(parts) == 2:
        return (group, resource, parts[0], parts[1])
    return None


def decode(kv):
    obj = json.loads(unb64(kv["value"]))
    obj.setdefault("metadata", {})["resourceVersion"] = kv["mod_revision"]
    return obj


class Store:
    def __init__(self, etcd, prefix=PREFIX):
        self.etcd = etcd
        self.prefix = prefix
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.objects = {}
        self.rv = 0
        self.events = collections.deque(maxlen=10000)  # (resourceVersion, type, key, object) for watches
        self.started = False
        while True:   # the API server waits for its etcd, as the real one retries its first connection
            try:
                self._list()
                break
            except EtcdError as e:
                util.klog("W", "Failed to list the objects in etcd, retrying: %s" % e)
                time.sleep(1)
        threading.Thread(target=self._follow, daemon=True).start()
        threading.Thread(target=self._compact, daemon=True).start()

    # ---- the cache, fed by etcd ------------------------------------------------------------------
    def _list(self):
        """(Re)load every object at etcd's current revision; changes since the cache's last are events."""
        answer = self.etcd.range(self.prefix + "/", prefix_end(self.prefix + "/"))
        revision = int(answer["header"]["revision"])
        found = {}
        for kv in answer.get("kvs") or []:
            key = store_key(unb64(kv["key"]).decode(), self.prefix)
            if key:
                found[key] = decode(kv)
        with self.lock:
            if self.started:
                for key, obj in self.objects.items():
                    if key not in found:
                        self._event(revision, "DELETED", key, dict(obj, metadata=dict(
                            obj["metadata"], resourceVersion=str(revision))))
                for key, obj in found.items():
                    before = self.objects.get(key)
                    if before is None or before["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                        self._event(revision, "MODIFIED" if before else "ADDED", key, obj)
            self.objects = found
            self.rv = max(self.rv, revision)
            self.started = True
            self.changed.notify_all()

    def _follow(self):
        """Watch every key from the cache's revision on (other keys too: each revision is then seen, and a
        consistent read never waits for one that brings no object); again after a break, from where it was."""
        while True:
            try:
                for result in self.etcd.watch("\0", "\0", self.rv + 1):
                    if result.get("compact_revision") and result.get("canceled"):
                        self._list()   # the revisions it missed are compacted away: load the objects again
                        break
                    self._apply(result)
            except (EtcdError, OSError, ValueError) as e:
                util.klog("W", "etcd watch ended, watching again: %s" % e)
            time.sleep(0.5)

    def _apply(self, result):
        events = result.get("events") or []
        with self.lock:
            for ev in events:
                kv = ev["kv"]
                revision = int(kv["mod_revision"])
                key = store_key(unb64(kv["key"]).decode(), self.prefix)
                if key is not None and ev.get("type") == "DELETE":
                    old = self.objects.pop(key, None)
                    if old is not None:
                        self._event(revision, "DELETED", key, dict(old, metadata=dict(
                            old["metadata"], resourceVersion=str(revision))))
                elif key is not None:
                    obj = decode(kv)
                    kind = "MODIFIED" if key in self.objects else "ADDED"
                    self.objects[key] = obj
                    self._event(revision, kind, key, obj)
                self.rv = max(self.rv, revision)
            if not events and not result.get("created") and result.get("header", {}).get("revision"):
                self.rv = max(self.rv, int(result["header"]["revision"]))   # a progress notification
            self.changed.notify_all()

    def _event(self, revision, kind, key, obj):
        self.events.append((revision, kind, key, copy.deepcopy(obj)))

    def _compact(self):
        """Compact etcd's history to the revision of COMPACTION_INTERVAL ago, as kube-apiserver does."""
        seen = None
        while True:
            time.sleep(COMPACTION_INTERVAL)
            if seen:
                try:
                    self.etcd.compact(seen)
                except EtcdError:
                    pass   # compacted further by another API server, or etcd is away: next time
            seen = self.rv

    def wait_for(self, revision, timeout=CATCH_UP_TIMEOUT):
        """Wait until the cache has seen revision; False if it has not within timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.rv < revision:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    def sync(self):
        """A consistent read: the cache as recent as etcd's current revision. EtcdError without a quorum."""
        revision = self.etcd.revision()
        if not self.wait_for(revision):
            raise EtcdError("Too large resource version: %d, current: %d" % (revision, self.rv))

    def healthy(self):
        try:
            self.etcd.revision()
            return True
        except EtcdError:
            return False

    # ---- reads ------------------------------------------------------------------------------------
    def events_after(self, rv):
        """The events newer than rv, oldest first; read from the newest end (the deque is in resourceVersion
        order), so a watcher woken by a change pays for the new events only. Call with the lock held."""
        out = []
        for e in reversed(self.events):
            if e[0] <= rv:
                break
            out.append(e)
        out.reverse()
        return out

    def oldest_event_rv(self):
        with self.lock:
            return self.events[0][0] if self.events else self.rv + 1

    def get(self, key):
        with self.lock:
            o = self.objects.get(key)
            return copy.deepcopy(o) if o is not None else None

    def list(self, group, resource, ns=None):
        with self.lock:
            out = [copy.deepcopy(o) for (g, r, n, _), o in self.objects.items()
                   if g == group and r == resource and (ns is None or n == ns)]
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return out

    def keys_in_namespace(self, ns):
        with self.lock:
            return [k for k in self.objects if k[2] == ns]

    # ---- writes -----------------------------------------------------------------------------------
    def put(self, key, obj, expect=None):
        """Write obj if the key's mod_revision is still expect (None: only if the key does not exist). Returns
        the object as stored, with its new resourceVersion."""
        ekey = etcd_key(key, self.prefix)
        stored = copy.deepcopy(obj)
        stored.setdefault("metadata", {}).pop("resourceVersion", None)
        guard = {"key": b64(ekey), "result": "EQUAL"}
        guard.update({"target": "CREATE", "create_revision": "0"} if expect is None else
                     {"target": "MOD", "mod_revision": str(expect)})
        answer = self.etcd.txn([guard], [{"request_put": {"key": b64(ekey), "value": b64(json.dumps(stored))}}],
                               [{"request_range": {"key": b64(ekey)}}])
        revision = int(answer["header"]["revision"])
        if not answer.get("succeeded"):
            self._lost(answer, revision)
        self.wait_for(revision)
        stored["metadata"]["resourceVersion"] = str(revision)
        return stored

    def delete(self, key):
        """Delete the object the cache holds, if etcd still has that version of it; returns it (its
        resourceVersion that of the deletion), or None when there is none."""
        cur = self.get(key)
        if cur is None:
            return None
        ekey = etcd_key(key, self.prefix)
        answer = self.etcd.txn([{"key": b64(ekey), "result": "EQUAL", "target": "MOD",
                                 "mod_revision": cur["metadata"]["resourceVersion"]}],
                               [{"request_delete_range": {"key": b64(ekey)}}], [{"request_range": {"key": b64(ekey)}}])
        revision = int(answer["header"]["revision"])
        if not answer.get("succeeded"):
            self._lost(answer, revision)
        self.wait_for(revision)
        cur["metadata"]["resourceVersion"] = str(revision)
        return cur

    def _lost(self, answer, revision):
        """A guarded write that lost its race: the cache catches up with the winner first, so a retry reads it."""
        kvs = (((answer.get("responses") or [{}])[0].get("response_range") or {}).get("kvs")) or []
        self.wait_for(max([revision] + [int(kv["mod_revision"]) for kv in kvs]))
        raise Conflict()
