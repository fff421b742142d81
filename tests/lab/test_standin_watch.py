"""The stand-ins react to API changes through watches, as the real components' informers do: the API server's
watch=true streams as the client reads them, the kubelet's wait for its CSR and for pods bound to its node,
and the controller manager's pass after a change.

No lab hosts: the stand-in API server runs from the source tree on this machine's loopback, the kubelet and
controller code in this process. Each reaction is looked for within seconds while the periodic resync is
minutes away, so only a watch can have caused it.
"""
import base64
import itertools
import json
import socket
import subprocess
import sys
import threading
import time

import pytest
from local_etcd import LocalEtcd

from kub_lab import repo

sys.path.insert(0, str(repo.STANDINS))
from kube import client as kclient  # noqa: E402
from kube import controllers, kubelet, pki  # noqa: E402

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
SERVER = ("import sys; sys.path.insert(0, %r); from kube import apiserver; sys.exit(apiserver.main(sys.argv[1:]))"
          % str(repo.STANDINS))


class ApiServer:
    """The stand-in API server with its own CA, on a real etcd; restart() keeps its store (etcd) but not its
    watch history (its cache)."""

    def __init__(self, d):
        self.dir = d
        self.etcd = LocalEtcd(d / "etcd")
        self.ca, self.ca_key = pki.new_ca("kubernetes")
        crt, key = pki.sign(self.ca, self.ca_key, "kube-apiserver", ips=["127.0.0.1"], server=True)
        for name, data in (("ca.crt", self.ca), ("ca.key", self.ca_key), ("apiserver.crt", crt),
                           ("apiserver.key", key)):
            (d / name).write_bytes(data)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.kubeconfig = d / "admin.conf"
        self.kubeconfig.write_text(self.config("kubernetes-admin", ["kubeadm:cluster-admins"]))
        self.admin = kclient.client_from_kubeconfig(str(self.kubeconfig), timeout=10)
        self.proc = None
        self.start()

    def config(self, user, groups):
        cert, key = pki.sign(self.ca, self.ca_key, user, orgs=groups, client=True)
        return kclient.make_kubeconfig("https://127.0.0.1:%d" % self.port, self.ca, user, cert_pem=cert,
                                       key_pem=key)

    def client(self, user, groups):
        path = self.dir / (user.replace(":", "-") + ".conf")
        path.write_text(self.config(user, groups))
        return kclient.client_from_kubeconfig(str(path), timeout=10)

    def start(self):
        d = self.dir
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, "--secure-port=%d" % self.port, "--bind-address=127.0.0.1",
             "--tls-cert-file=%s" % (d / "apiserver.crt"), "--tls-private-key-file=%s" % (d / "apiserver.key"),
             "--client-ca-file=%s" % (d / "ca.crt")] + self.etcd.flags(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.admin.get("/api/v1/namespaces/default")
                return
            except kclient.ConnectError:
                assert time.monotonic() < deadline and self.proc.poll() is None, "the API server did not come up"
                time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def restart(self):
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ApiServer(tmp_path_factory.mktemp("watch"))
    try:
        yield srv
    finally:
        srv.stop()
        srv.etcd.stop()


def configmap(name, **labels):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels},
            "data": {"a": "1"}}


def in_thread(fn, *args):
    """Runs fn in a thread; returns (thread, {"value": ..., "at": monotonic time it returned})."""
    out = {}

    def target():
        out["value"] = fn(*args)
        out["at"] = time.monotonic()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


def wait_for(pred, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_watch_streams_changes_in_order(server):
    api = server.admin
    rv = api.get(CONFIGMAPS)["metadata"]["resourceVersion"]
    api.create(CONFIGMAPS, configmap("one", app="x"))
    api.patch(CONFIGMAPS + "/one", {"data": {"a": "2"}})
    api.create(CONFIGMAPS, configmap("other"))
    api.delete(CONFIGMAPS + "/one")
    events = list(itertools.islice(api.watch(CONFIGMAPS, rv, timeout_seconds=5, labelSelector="app=x"), 3))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "one"), ("MODIFIED", "one"), ("DELETED", "one")]
    assert events[1]["object"]["data"] == {"a": "2"}
    assert events[0]["object"]["kind"] == "ConfigMap"
    # from "": the current objects first; the stream ends after timeoutSeconds
    started = time.monotonic()
    now = list(api.watch(CONFIGMAPS, "", timeout_seconds=1))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in now] == [("ADDED", "other")]
    assert 0.9 < time.monotonic() - started < 8


def test_watch_from_a_version_the_restarted_server_forgot_is_410(server):
    api = server.admin
    rv = api.get(CONFIGMAPS)["metadata"]["resourceVersion"]
    api.create(CONFIGMAPS, configmap("before-restart"))
    server.restart()
    events = list(api.watch(CONFIGMAPS, rv, timeout_seconds=5))
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


def test_watch_from_a_version_the_server_never_reached_is_refused(server):
    api = server.admin
    rv = int(api.get(CONFIGMAPS)["metadata"]["resourceVersion"])
    events = list(api.watch(CONFIGMAPS, str(rv + 100), timeout_seconds=5))
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 504
    assert events[0]["object"]["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


def test_client_keeps_its_connection_until_the_server_closes_it(server):
    api = server.client("kubernetes-admin", ["kubeadm:cluster-admins"])
    api.get(CONFIGMAPS)
    first = api._kept.conn
    api.create(CONFIGMAPS, configmap("kept"))
    assert api._kept.conn is first   # no TLS handshake per request
    server.restart()
    assert api.get(CONFIGMAPS + "/kept")["metadata"]["name"] == "kept"   # not the connection the server closed
    assert api._kept.conn is not first


def test_changes_wakes_at_once_and_follows_a_restarted_server(server):
    api = server.admin
    changes = kclient.Changes(api, [CONFIGMAPS])
    try:
        assert changes.wait(10)   # the first list
        assert not changes.wait(0.5)
        api.create(CONFIGMAPS, configmap("woken"))
        assert changes.wait(10)
        api.patch(CONFIGMAPS + "/woken", {"data": {"a": "3"}})
        api.patch(CONFIGMAPS + "/woken", {"data": {"a": "4"}})
        time.sleep(0.5)
        assert changes.wait(0) and not changes.wait(0)   # changes before a wait count once
        # the watch breaks with the server, and starts again from the last version it saw (a deletion)
        api.delete(CONFIGMAPS + "/woken")
        assert changes.wait(10)
        server.restart()
        while changes.wait(3):
            pass
        api.create(CONFIGMAPS, configmap("after-restart"))
        assert changes.wait(10)
    finally:
        changes.close()


def test_kubelet_waits_for_its_certificate_on_a_watch(server):
    node = server.client("system:node:kubh9", ["system:nodes"])
    csr, _ = pki.new_csr("system:node:kubh9", ["system:nodes"])
    name = "node-csr-watched"
    node.create(CSRS, {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                       "metadata": {"name": name},
                       "spec": {"request": base64.b64encode(csr).decode(),
                                "signerName": controllers.KUBELET_SIGNER, "usages": ["client auth"]}})
    calls = []
    for verb in ("get", "watch"):
        real = getattr(node, verb)
        setattr(node, verb, lambda *a, _real=real, _verb=verb, **k: calls.append((_verb, a[0])) or _real(*a, **k))
    t, out = in_thread(kubelet.wait_for_certificate, node, name)
    time.sleep(2.5)   # the 1 s poll it replaces would have read the CSR three times by now
    assert t.is_alive()
    assert calls == [("get", CSRS + "/" + name), ("watch", CSRS)]
    other = server.admin.get(CSRS + "/" + name)
    server.admin.replace(CSRS + "/%s/status" % name, dict(other, status={"certificate": pki.b64(b"signed")}))
    t.join(10)
    assert out.get("value") == b"signed"
    assert len(calls) == 2


def test_kubelet_sync_wakes_for_a_pod_bound_to_its_node(server):
    flags = {"hostname-override": "kubh7", "container-runtime-endpoint": "", "node-ip": "10.0.0.7",
             "kubeconfig": str(server.kubeconfig), "bootstrap-kubeconfig": ""}
    k = kubelet.Kubelet(flags, {})
    k.connect()
    k.reported_ready = True   # past the fast readiness checks: only the period or a pod change ends a pause
    try:
        assert k.pod_changes.wait(10)   # its first list
        t, out = in_thread(k.pause, 60)
        pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        server.admin.create("/api/v1/namespaces/default/pods",
                            dict(pod, metadata={"name": "elsewhere"}, spec=dict(pod["spec"], nodeName="kubh6")))
        time.sleep(1)
        assert t.is_alive()   # a pod of another node does not concern it
        created = time.monotonic()
        server.admin.create("/api/v1/namespaces/default/pods",
                            dict(pod, metadata={"name": "here"}, spec=dict(pod["spec"], nodeName="kubh7")))
        t.join(10)
        assert not t.is_alive()
        print("pod bound -> kubelet sync: %.3f s" % (out["at"] - created))
    finally:
        k.pod_changes.close()


def test_controllers_pass_on_a_change_and_settle(server, tmp_path):
    (tmp_path / "ca.crt").write_bytes(server.ca)
    (tmp_path / "ca.key").write_bytes(server.ca_key)
    api = server.admin
    ctrl = controllers.Controllers(api, {"cluster-signing-cert-file": str(tmp_path / "ca.crt"),
                                         "cluster-signing-key-file": str(tmp_path / "ca.key"),
                                         "node-monitor-grace-period": "10m"})   # the node here has no kubelet
    passes, running = [], []
    run_once = ctrl.run_once

    def counted():
        passes.append(time.monotonic())
        running.append(True)
        try:
            run_once()
        finally:
            running.pop()
    ctrl.run_once = counted
    changes = controllers.watch(api)
    threading.Thread(target=controllers.run, args=(ctrl, changes, 600), daemon=True).start()

    def settled():
        count = len(passes)
        time.sleep(1.5)
        return count and len(passes) == count and not running
    try:
        assert wait_for(settled, 30)
        api.create("/apis/apps/v1/namespaces/default/daemonsets", {
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
        assert wait_for(settled, 30)
        started = time.monotonic()
        api.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kubh8"},
                                     "status": {"conditions": [{"type": "Ready", "status": "True",
                                                                "lastHeartbeatTime": "2024-01-01T00:00:00Z"}]}})

        def agent_pod():
            return [p for p in api.get("/api/v1/namespaces/default/pods")["items"]
                    if p["metadata"]["name"].startswith("agent-") and p["spec"].get("nodeName") == "kubh8"]
        assert wait_for(agent_pod, 10)
        print("node created -> its DaemonSet pod: %.3f s" % (time.monotonic() - started))

        node = server.client("system:node:kubh8", ["system:nodes"])
        csr, _ = pki.new_csr("system:node:kubh8", ["system:nodes"])
        started = time.monotonic()
        node.create(CSRS, {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                           "metadata": {"name": "node-csr-kubh8"},
                           "spec": {"request": base64.b64encode(csr).decode(),
                                    "signerName": controllers.KUBELET_SIGNER, "usages": ["client auth"]}})
        cert = kubelet.wait_for_certificate(node, "node-csr-kubh8")
        print("CSR created -> signed: %.3f s" % (time.monotonic() - started))
        assert pki.cert_subject(cert)[0] == "system:node:kubh8"
        # its own writes made a few more passes, then nothing changes and it waits for the resync
        assert wait_for(settled, 30)
        idle = len(passes)
        time.sleep(3)
        assert len(passes) == idle
        assert idle < 20, json.dumps(passes)
        # a kubelet's status post that only renews the heartbeat is no change to act on; a new label is
        beat = {"status": {"conditions": [{"type": "Ready", "status": "True",
                                           "lastHeartbeatTime": "2024-01-01T00:00:04Z"}]}}
        api.patch("/api/v1/nodes/kubh8/status", beat)
        time.sleep(1.5)
        assert len(passes) == idle
        api.patch("/api/v1/nodes/kubh8", {"metadata": {"labels": {"role": "worker"}}})
        assert wait_for(lambda: len(passes) > idle, 10)
    finally:
        changes.close()
        wait_for(lambda: not running, 30)
