"""The stand-in API server on this machine's loopback, driven by the real kubectl of every minor the lab
serves: what each release's client sends (protobuf from typed clients since 1.33, watch-list streams, ...)
must be understood, and the client must print what it prints against a real cluster.

No lab hosts: the server is the one the minor's kubelet package of the lab repository ships, run here with
its own CA; nodes are plain objects.
"""
import json
import re
import shlex
import socket
import subprocess
import sys
import time

import pytest
from local_etcd import LocalEtcd

from kub_lab import repo

sys.path.insert(0, str(repo.STANDINS))
from kube import pki  # noqa: E402  (the stand-ins' own certificate helper)

NODE = """\
apiVersion: v1
kind: Node
metadata:
  name: kubh9
  labels: {kubernetes.io/hostname: kubh9}
status:
  conditions:
  - {type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status}
"""
EVICTABLE = """\
apiVersion: v1
kind: Pod
metadata:
  name: worker
  namespace: default
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: w, uid: 0b5c0a57-0000-4000-8000-000000000001,
                     controller: true}]
spec:
  nodeName: kubh9
  containers: [{name: c, image: busybox:1.36}]
  volumes: [{name: scratch, emptyDir: {}}]
"""


@pytest.fixture(scope="module", params=repo.served_minors())
def server(request, tmp_path_factory):
    """(kubectl runner, minor): a fresh API server reporting the minor's release, and its real kubectl."""
    minor = request.param
    real = repo.ensure_kubectl(minor)
    d = tmp_path_factory.mktemp("apiserver-" + minor)
    ca, ca_key = pki.new_ca("kubernetes")
    crt, key = pki.sign(ca, ca_key, "kube-apiserver", ips=["127.0.0.1"], server=True)
    admin, admin_key = pki.sign(ca, ca_key, "kubernetes-admin", orgs=["kubeadm:cluster-admins"], client=True)
    for name, data in (("ca.crt", ca), ("apiserver.crt", crt), ("apiserver.key", key)):
        (d / name).write_bytes(data)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "kubeconfig").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "lab", "cluster": {"server": "https://127.0.0.1:%d" % port,
                                                 "certificate-authority-data": pki.b64(ca)}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": pki.b64(admin),
                                             "client-key-data": pki.b64(admin_key)}}],
        "contexts": [{"name": "admin", "context": {"cluster": "lab", "user": "admin"}}]}))
    deb = repo.ensure_repository() / ("core:/stable:/v%s/deb/amd64/kubelet_%s%s_amd64.deb"
                                      % (minor, real["gitVersion"].lstrip("v"), repo.REVISION))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(d / "pkg")], check=True)
    (d / "kube-apiserver").symlink_to(d / "pkg/usr/bin/kubelet")   # the programs pick their part by name
    store = LocalEtcd(d / "etcd")
    proc = subprocess.Popen([str(d / "kube-apiserver"), "--secure-port=%d" % port, "--bind-address=127.0.0.1",
                             "--tls-cert-file=%s" % (d / "apiserver.crt"),
                             "--tls-private-key-file=%s" % (d / "apiserver.key"),
                             "--client-ca-file=%s" % (d / "ca.crt")] + store.flags(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    base = [real["binary"], "--kubeconfig", str(d / "kubeconfig"), "--cache-dir", str(d / "cache")]

    def kubectl(args, stdin=None, check=True, start=False):
        if start:
            return subprocess.Popen(base + shlex.split(args), stdout=subprocess.PIPE, text=True)
        p = subprocess.run(base + shlex.split(args), input=stdin, text=True, capture_output=True, timeout=60)
        if check:
            assert p.returncode == 0, "kubectl %s\nstdout: %s\nstderr: %s" % (args, p.stdout, p.stderr)
        return p

    try:
        deadline = time.monotonic() + 20
        while kubectl("get --raw /healthz", check=False).returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, "the API server did not come up"
            time.sleep(0.2)
        yield kubectl, minor
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        store.stop()


def test_version_without_skew(server):
    kubectl, minor = server
    p = kubectl("version -o json")
    versions = json.loads(p.stdout)
    assert versions["clientVersion"]["gitVersion"] == versions["serverVersion"]["gitVersion"]
    assert versions["serverVersion"]["gitCommit"] == repo.ensure_kubectl(minor)["gitCommit"]
    assert "WARNING" not in p.stderr


def test_apply_and_server_side_apply(server):
    kubectl, _ = server
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {colour: blue}\n"
    assert kubectl("apply -f -", doc).stdout.strip() == "configmap/settings created"
    assert kubectl("apply -f -", doc).stdout.strip() == "configmap/settings unchanged"
    assert kubectl("apply -f -", doc.replace("blue", "red")).stdout.strip() == "configmap/settings configured"
    bad = kubectl("apply -f -", doc + "colour: red\n", check=False)
    assert bad.returncode == 1
    assert 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field ' \
           '"colour"' in bad.stderr
    ssa = doc.replace("settings", "ssa")
    assert kubectl("apply --server-side -f -", ssa).stdout.strip() == "configmap/ssa serverside-applied"
    assert kubectl("apply --server-side -f -", ssa).stdout.strip() == "configmap/ssa serverside-applied"


def test_typed_clients_create_and_scale(server):
    kubectl, _ = server
    assert kubectl("create namespace shop").stdout.strip() == "namespace/shop created"
    assert kubectl("create deployment web -n shop --image=nginx:1.27 --port=80 --replicas=2").stdout.strip() == \
        "deployment.apps/web created"
    made = json.loads(kubectl("get deployment web -n shop -o json").stdout)
    container = made["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["ports"]) == ("nginx", "nginx:1.27",
                                                                           [{"containerPort": 80}])
    assert made["spec"]["replicas"] == 2 and made["metadata"]["labels"] == {"app": "web"}
    assert kubectl("create configmap empty-value -n shop --from-literal=a=").stdout.strip() == \
        "configmap/empty-value created"
    assert json.loads(kubectl("get cm empty-value -n shop -o json").stdout)["data"] == {"a": ""}
    assert kubectl("scale deployment web -n shop --replicas=4").stdout.strip() == "deployment.apps/web scaled"
    assert kubectl("get deployment web -n shop -o jsonpath={.spec.replicas}").stdout == "4"
    assert kubectl("expose deployment web -n shop --port=80").stdout.strip() == "service/web exposed"


def test_node_handling_and_drain(server):
    kubectl, _ = server
    assert kubectl("apply -f -", NODE).stdout.strip() == "node/kubh9 created"
    assert kubectl("wait --for=condition=Ready node/kubh9 --timeout=10s").stdout.strip() == \
        "node/kubh9 condition met"
    assert kubectl("label node kubh9 tier=edge").stdout.strip() == "node/kubh9 labeled"
    assert kubectl("taint node kubh9 k=v:NoSchedule").stdout.strip() == "node/kubh9 tainted"
    assert kubectl("get nodes").stdout.splitlines()[1].split()[:3] == ["kubh9", "Ready", "<none>"]
    kubectl("apply -f -", EVICTABLE)
    drained = kubectl("drain kubh9 --ignore-daemonsets --delete-emptydir-data --timeout=20s")
    lines = (drained.stdout + drained.stderr).splitlines()
    assert lines[0] == "node/kubh9 cordoned" and lines[-1] == "node/kubh9 drained"
    assert "evicting pod default/worker" in lines and "pod/worker evicted" in lines
    assert kubectl("get node kubh9 --no-headers").stdout.split()[1] == "Ready,SchedulingDisabled"
    assert kubectl("uncordon kubh9").stdout.strip() == "node/kubh9 uncordoned"
    assert kubectl("delete node kubh9").stdout.strip() == 'node "kubh9" deleted'
    assert kubectl("get nodes", check=False).stderr.strip() == "No resources found"


WEB_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: default
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: 0b5c0a57-0000-4000-8000-000000000002,
                     controller: true}]
spec:
  nodeName: kubh8
  containers: [{name: c, image: nginx:1.27}]
"""
BUDGET = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: %s, namespace: default}
spec:
  minAvailable: 2
  selector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
"""


def test_eviction_honours_a_disruption_budget_as_kube_apiserver_does(server):
    """429 with the real message and a cause naming the budget; kubectl's drain retries it until its timeout;
    a pod under two budgets cannot be evicted; --disable-eviction deletes the pods whatever the budgets."""
    kubectl, _ = server
    kubectl("apply -f -", NODE.replace("kubh9", "kubh8"))
    for name in ("web-1", "web-2"):
        kubectl("apply -f -", WEB_POD % name)
        kubectl("patch pod %s --subresource=status --type=merge -p %s" % (name, shlex.quote(json.dumps(
            {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}))))
    kubectl("apply -f -", BUDGET % "web")
    eviction = json.dumps({"apiVersion": "policy/v1", "kind": "Eviction",
                           "metadata": {"name": "web-1", "namespace": "default"}})
    refused = kubectl("create --raw /api/v1/namespaces/default/pods/web-1/eviction -f - -v=6", eviction, check=False)
    assert refused.returncode == 1
    assert "Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's disruption " \
           "budget." in refused.stderr, refused.stderr
    assert "429 Too Many Requests" in refused.stderr
    body = json.loads(kubectl("get --raw /api/v1/namespaces/default/pods/web-1").stdout)
    assert body["metadata"]["name"] == "web-1"   # still there

    drained = kubectl("drain kubh8 --ignore-daemonsets --timeout=6s", check=False)
    assert drained.returncode == 1 and "node/kubh8 cordoned" in drained.stdout
    assert re.search(r'error when evicting pods/"web-[12]" -n "default" \(will retry after 5s\): Cannot evict pod '
                     r"as it would violate the pod's disruption budget\.", drained.stderr), drained.stderr
    assert "global timeout reached: 6s" in drained.stderr, drained.stderr

    kubectl("apply -f -", BUDGET % "web-too")
    twice = kubectl("create --raw /api/v1/namespaces/default/pods/web-1/eviction -f -", eviction, check=False)
    assert "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support." in \
        twice.stderr, twice.stderr

    forced = kubectl("drain kubh8 --ignore-daemonsets --disable-eviction --timeout=20s")
    out = forced.stdout + forced.stderr
    assert "pod/web-1 deleted" in out and "pod/web-2 deleted" in out and "node/kubh8 drained" in out, out
    assert kubectl("get pods -n default -l app=web -o name").stdout == ""
    kubectl("delete node kubh8")


def test_evictions_racing_for_a_budgets_last_disruption_take_one_pod(server):
    """kubectl drain sends a node's evictions at once: of eight pods under a budget that allows one disruption, one
    goes and the others are refused, as kube-apiserver's guarded write of the budget's status decides."""
    kubectl, _ = server
    kubectl("apply -f -", NODE.replace("kubh9", "kubh7"))
    ready = shlex.quote(json.dumps({"status": {"phase": "Running",
                                               "conditions": [{"type": "Ready", "status": "True"}]}}))
    pods = [(WEB_POD % f"race-{n}").replace("kubh8", "kubh7").replace("app: web", "app: race") for n in range(8)]
    kubectl("apply -f -", "\n---\n".join(pods))
    for n in range(8):
        kubectl(f"patch pod race-{n} --subresource=status --type=merge -p {ready}")
    kubectl("apply -f -", (BUDGET % "race").replace("minAvailable: 2", "minAvailable: 7").replace("[web]", "[race]"))
    drained = kubectl("drain kubh7 --ignore-daemonsets --timeout=6s", check=False)
    assert drained.returncode == 1 and "global timeout reached: 6s" in drained.stderr, drained.stderr
    assert len(kubectl("get pods -n default -l app=race -o name").stdout.split()) == 7
    kubectl("delete pods -n default -l app=race")
    kubectl("delete pdb race -n default")
    kubectl("delete node kubh7")


def test_get_watch_sees_new_objects(server):
    kubectl, _ = server
    watch = kubectl("get namespaces --watch", start=True)
    try:
        time.sleep(1.5)
        kubectl("create namespace watched")
        time.sleep(1.5)
    finally:
        watch.terminate()
    out = watch.communicate(timeout=10)[0]
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    assert re.search(r"^watched\s+Active\s+\d+s$", out, re.M), out


def test_delete_manifest_with_its_namespace(server):
    kubectl, _ = server
    manifest = ("apiVersion: v1\nkind: Namespace\nmetadata: {name: gone}\n---\n"
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: gone}\ndata: {a: b}\n")
    kubectl("apply -f -", manifest)
    lines = kubectl("delete -f -", manifest).stdout.splitlines()
    assert lines[0] == 'namespace "gone" deleted'
    assert lines[1].startswith('configmap "c" deleted')   # 1.36+: "deleted from gone namespace"
    assert kubectl("get namespace gone", check=False).stderr.strip() == \
        'Error from server (NotFound): namespaces "gone" not found'
    kubectl("create namespace closing")
    kubectl("delete namespace closing --wait=false")
    refused = kubectl("create configmap late -n closing", check=False)
    assert refused.returncode == 1
    assert "unable to create new content in namespace closing because it is being terminated" in refused.stderr


def test_discovery_is_aggregated(server, tmp_path):
    kubectl, _ = server
    p = kubectl("api-resources -v=6 --cache-dir=%s" % tmp_path)   # a fresh cache: discovery is fetched
    paths = set(re.findall(r"https://127\.0\.0\.1:\d+(/[^?\"\s]*)", p.stderr))
    assert paths == {"/api", "/apis"}, paths   # one answer per root, no request per group version
    rows = {tuple(line.split()) for line in p.stdout.splitlines()}
    assert ("deployments", "deploy", "apps/v1", "true", "Deployment") in rows
    assert ("nodes", "no", "v1", "false", "Node") in rows
