"""The real upstream kubectl against a lab cluster: what a person types on the master, and what it prints.

The kubectl package of the lab's repository is the upstream build of its minor; the control plane is the
stand-in. Each test asserts the client's own output. Hosts 1-3 are used (1 is the control plane) and wiped
at the end.
"""
import ipaddress
import json
import pathlib
import re

import pytest
import yaml
from kubeadm_cluster import ADMIN, kubeadm_cluster, nodes, ready, wait_for

from kub_lab import repo
from kub_lab.registry import IMAGE_NAMES

pytestmark = pytest.mark.lab
# the lab registry's images (through containerd's registry mirrors): a web server, busybox's commands
WEB, BUSYBOX = IMAGE_NAMES["web"], IMAGE_NAMES["busybox"]

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  colour: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: front
  namespace: shop
  labels: {app: front}
spec:
  replicas: 2
  selector:
    matchLabels: {app: front}
  template:
    metadata:
      labels: {app: front}
    spec:
      containers:
      - name: web
        image: %(web)s
        ports:
        - containerPort: 80
        volumeMounts:
        - {name: scratch, mountPath: /scratch}
      volumes:
      - name: scratch
        emptyDir: {}
""" % IMAGE_NAMES


@pytest.fixture(scope="module", params=["1.31", "1.37"])
def cluster(request, lab):
    with kubeadm_cluster(lab, (1, 2, 3), request.param):
        assert wait_for(lambda: all(ready(n) == "True" for n in nodes(lab).values()) and len(nodes(lab)) == 3, 90)
        yield lab, request.param


def kubectl(lab, args, stdin=None, timeout=120, check=True):
    """kubectl on the master as root with the admin kubeconfig; returns the CompletedProcess."""
    p = lab.exec(1, ["bash", "-c", "export " + ADMIN + "; kubectl " + args], input=stdin, check=False,
                 timeout=timeout)
    if check:
        assert p.returncode == 0, "kubectl %s\nstdout: %s\nstderr: %s" % (args, p.stdout, p.stderr)
    return p


def test_the_client_is_the_upstream_build(cluster):
    lab, minor = cluster
    real = repo.ensure_kubectl(minor)
    client = json.loads(kubectl(lab, "version --client -o json").stdout)["clientVersion"]
    assert (client["gitVersion"], client["gitCommit"]) == (real["gitVersion"], real["gitCommit"])
    both = kubectl(lab, "version -o json")
    assert json.loads(both.stdout)["serverVersion"]["gitVersion"] == real["gitVersion"]
    assert "WARNING" not in both.stderr   # no version skew


def test_auth_can_i_follows_the_policy(cluster):
    lab, _ = cluster
    admin = kubectl(lab, "auth can-i delete nodes")
    assert admin.stdout.strip() == "yes"
    kubelet = kubectl(lab, "auth can-i delete nodes --as=system:node:kubh2 --as-group=system:nodes", check=False)
    assert (kubelet.returncode, kubelet.stdout.strip()) == (1, "no")
    assert kubectl(lab, "auth can-i list pods --as=system:node:kubh2 --as-group=system:nodes").stdout.strip() == "yes"


def test_get_nodes_table_and_json(cluster):
    lab, minor = cluster
    lines = kubectl(lab, "get nodes").stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"kubh1", "kubh2", "kubh3"}
    version = repo.ensure_kubectl(minor)["gitVersion"]
    assert rows["kubh1"][1:3] == ["Ready", "control-plane"] and rows["kubh1"][4] == version
    assert rows["kubh2"][1:3] == ["Ready", "<none>"]
    wide = kubectl(lab, "get nodes -o wide").stdout.splitlines()
    assert wide[0].split()[5:7] == ["INTERNAL-IP", "EXTERNAL-IP"]
    assert any(line.split()[0] == "kubh2" and line.split()[5] == lab.host_ip(2) for line in wide[1:])
    listed = json.loads(kubectl(lab, "get nodes -o json").stdout)
    assert listed["kind"] == "List" and listed["apiVersion"] == "v1"
    assert sorted(n["metadata"]["name"] for n in listed["items"]) == ["kubh1", "kubh2", "kubh3"]
    assert all(n["kind"] == "Node" for n in listed["items"])
    missing = kubectl(lab, "get node nosuchnode", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): nodes "nosuchnode" not found'


def test_apply_creates_then_leaves_unchanged(cluster):
    lab, _ = cluster
    first = kubectl(lab, "apply -f -", stdin=MANIFEST)
    assert first.stdout.splitlines() == ["namespace/shop created", "configmap/settings created",
                                         "deployment.apps/front created"]
    again = kubectl(lab, "apply -f -", stdin=MANIFEST)
    assert again.stdout.splitlines() == ["namespace/shop unchanged", "configmap/settings unchanged",
                                         "deployment.apps/front unchanged"]
    changed = kubectl(lab, "apply -f -", stdin=MANIFEST.replace("colour: blue", "colour: green"))
    assert changed.stdout.splitlines()[1] == "configmap/settings configured"
    assert kubectl(lab, "get configmap settings -n shop -o jsonpath={.data.colour}").stdout == "green"
    # validation is the server's (fieldValidation=Strict), never switched off on the client
    bad = kubectl(lab, "apply -f -", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
                                              "data: {a: b}\nbogus: 1\n", check=False)
    assert bad.returncode == 1 and 'unknown field "bogus"' in bad.stderr


def test_server_side_apply(cluster):
    lab, _ = cluster
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: shop\ndata:\n  a: '1'\n  b: '2'\n"
    assert kubectl(lab, "apply --server-side -f -", stdin=doc).stdout.strip() == "configmap/ssa serverside-applied"
    got = json.loads(kubectl(lab, "get configmap ssa -n shop -o json --show-managed-fields").stdout)
    assert got["data"] == {"a": "1", "b": "2"}
    assert [(m["manager"], m["operation"]) for m in got["metadata"]["managedFields"]] == [("kubectl", "Apply")]
    # what this manager stops applying goes away
    kubectl(lab, "apply --server-side -f -", stdin=doc.replace("  b: '2'\n", ""))
    assert json.loads(kubectl(lab, "get configmap ssa -n shop -o json").stdout)["data"] == {"a": "1"}


def test_create_deployment_scale_and_rollout_status(cluster):
    lab, _ = cluster
    assert kubectl(lab, "create deployment hello --image=%s --port=80" % WEB).stdout.strip() == \
        "deployment.apps/hello created"
    assert kubectl(lab, "scale deployment hello --replicas=3").stdout.strip() == "deployment.apps/hello scaled"
    status = kubectl(lab, "rollout status deployment/hello --timeout=90s", timeout=120)
    assert status.stdout.splitlines()[-1] == 'deployment "hello" successfully rolled out'
    available = kubectl(lab, "wait --for=condition=Available deployment/hello --timeout=60s", timeout=90)
    assert available.stdout.strip() == "deployment.apps/hello condition met"
    row = kubectl(lab, "get deployment hello --no-headers").stdout.split()
    assert row[:4] == ["hello", "3/3", "3", "3"]
    pods = kubectl(lab, "get pods -l app=hello -o wide --no-headers").stdout.splitlines()
    assert len(pods) == 3 and all(line.split()[1:3] == ["1/1", "Running"] for line in pods)
    assert kubectl(lab, "expose deployment hello --port=80").stdout.strip() == "service/hello exposed"
    ip = kubectl(lab, "get service hello -o jsonpath={.spec.clusterIP}").stdout
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")
    assert kubectl(lab, "run single --image=%s" % BUSYBOX).stdout.strip() == "pod/single created"
    # 1.36+ adds "from default namespace"
    assert kubectl(lab, "delete pod single").stdout.startswith('pod "single" deleted')


def listed(lab, args):
    """The items kubectl get lists (args: what to get, with options)."""
    return json.loads(kubectl(lab, "get " + args + " -o json").stdout)["items"]


def rolled_out(lab, name, replicas=2):
    """A new Deployment of web server pods, once rolled out; returns its one ReplicaSet."""
    kubectl(lab, "create deployment %s --image=%s --replicas=%d" % (name, WEB, replicas))
    kubectl(lab, "rollout status deployment/%s --timeout=60s" % name, timeout=90)
    [rs] = listed(lab, "replicasets -l app=" + name)
    return rs


def test_replicasets_node_ports_garbage_collection_and_unschedulable_pods(cluster):
    lab, _ = cluster
    items = lambda args: listed(lab, args)  # noqa: E731

    rs = rolled_out(lab, "shelf")
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment" and rs["status"]["readyReplicas"] == 2
    pods = items("pods -l app=shelf")
    assert len(pods) == 2 and {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {rs["metadata"]["name"]}
    kubectl(lab, "scale deployment shelf --replicas=1")
    assert wait_for(lambda: len(items("pods -l app=shelf")) == 1, 30)
    # a new pod template: a new ReplicaSet, the old one scaled to 0
    kubectl(lab, "set image deployment/shelf web=%s" % IMAGE_NAMES["web-next"])
    kubectl(lab, "rollout status deployment/shelf --timeout=60s", timeout=90)
    assert sorted(r["spec"]["replicas"] for r in items("replicasets -l app=shelf")) == [0, 1]
    assert [p["spec"]["containers"][0]["image"] for p in items("pods -l app=shelf")] == [IMAGE_NAMES["web-next"]]
    # a node port from the range, kept on update, refused to another Service
    kubectl(lab, "expose deployment shelf --port=80 --type=NodePort")
    port = int(kubectl(lab, "get service shelf -o jsonpath={.spec.ports[0].nodePort}").stdout)
    assert 30000 <= port <= 32767
    kubectl(lab, "label service shelf tier=front")
    assert int(kubectl(lab, "get service shelf -o jsonpath={.spec.ports[0].nodePort}").stdout) == port
    clash = kubectl(lab, "create service nodeport clash --tcp=80 --node-port=%d" % port, check=False)
    assert clash.returncode == 1 and "spec.ports[0].nodePort: Invalid value: %d: provided port is already " \
        "allocated" % port in clash.stderr
    # deleting the Deployment takes its ReplicaSets and pods with it
    kubectl(lab, "delete deployment shelf")
    assert wait_for(lambda: kubectl(lab, "get replicasets,pods -l app=shelf -o name").stdout == "", 30)
    # a pod that fits no node stays Pending and says why
    kubectl(lab, "create deployment nowhere --image=%s" % WEB)
    kubectl(lab, "patch deployment nowhere -p '{\"spec\": {\"template\": {\"spec\": {\"nodeSelector\": "
                 "{\"disk\": \"ssd\"}}}}}'")

    def unschedulable():
        pods = [p for p in items("pods -l app=nowhere") if p["spec"].get("nodeSelector")]
        return [c for p in pods for c in p["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
    assert wait_for(unschedulable, 30)
    condition = unschedulable()[0]
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"] == ("0/3 nodes are available: 1 node(s) had untolerated taint "
                                    "{node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node "
                                    "affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not "
                                    "helpful for scheduling.")
    status = kubectl(lab, "rollout status deployment/nowhere --timeout=3s", check=False)
    assert status.returncode == 1
    kubectl(lab, "delete deployment nowhere")


STATEFUL = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "%(web)s"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: seed}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: seed, image: "%(busybox)s", command: ["true"]}]
""" % IMAGE_NAMES


def test_statefulsets_and_jobs(cluster):
    lab, _ = cluster
    kubectl(lab, "apply -f -", stdin=STATEFUL)
    status = kubectl(lab, "rollout status statefulset/db --timeout=60s", timeout=90).stdout
    assert "roll out complete" in status.splitlines()[-1], status
    pods = json.loads(kubectl(lab, "get pods -l app=db -o json").stdout)["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1"]
    assert all(p["status"]["phase"] == "Running" for p in pods)
    done = kubectl(lab, "wait --for=condition=complete job/seed --timeout=60s", timeout=90).stdout
    assert done.strip() == "job.batch/seed condition met"
    job = json.loads(kubectl(lab, "get job seed -o json").stdout)
    assert job["status"]["succeeded"] == 2 and job["status"]["active"] == 0
    pods = json.loads(kubectl(lab, "get pods -l job-name=seed -o json").stdout)["items"]
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    kubectl(lab, "scale statefulset db --replicas=1")
    assert wait_for(lambda: kubectl(lab, "get pods -l app=db -o name").stdout.split() == ["pod/db-0"], 30)
    kubectl(lab, "delete job seed")
    kubectl(lab, "delete statefulset db")
    assert wait_for(lambda: kubectl(lab, "get pods -l 'app in (db)' -o name").stdout == "" and
                    kubectl(lab, "get pods -l job-name=seed -o name").stdout == "", 30)


def test_wait_for_node_condition(cluster):
    lab, _ = cluster
    met = kubectl(lab, "wait --for=condition=Ready node/kubh2 --timeout=30s")
    assert met.stdout.strip() == "node/kubh2 condition met"
    never = kubectl(lab, "wait --for=condition=Ready=False node/kubh2 --timeout=3s", check=False)
    assert never.returncode == 1
    assert "timed out waiting for the condition on nodes/kubh2" in never.stderr


def test_get_watch_streams_changes(cluster):
    lab, _ = cluster
    # the create's line on stderr: on the watch's stdout it could land inside one of the watch's lines
    p = kubectl(lab, "get namespaces --watch & sleep 3; kubectl create namespace watched >&2; sleep 2; kill %1",
                check=False, timeout=30)
    assert "namespace/watched created" in p.stderr
    assert re.search(r"^watched\s+Active\s+\d+s$", p.stdout, re.M), p.stdout


def test_label_taint_cordon_uncordon(cluster):
    lab, _ = cluster
    assert kubectl(lab, "label node kubh2 tier=edge").stdout.strip() == "node/kubh2 labeled"
    assert kubectl(lab, "get nodes -l tier=edge -o name").stdout.strip() == "node/kubh2"
    assert kubectl(lab, "taint node kubh2 dedicated=edge:NoSchedule").stdout.strip() == "node/kubh2 tainted"
    assert kubectl(lab, "taint node kubh2 dedicated=edge:NoSchedule-").stdout.strip() == "node/kubh2 untainted"
    assert kubectl(lab, "cordon kubh2").stdout.strip() == "node/kubh2 cordoned"
    assert kubectl(lab, "get node kubh2 --no-headers").stdout.split()[1] == "Ready,SchedulingDisabled"
    assert kubectl(lab, "uncordon kubh2").stdout.strip() == "node/kubh2 uncordoned"
    assert kubectl(lab, "get node kubh2 --no-headers").stdout.split()[1] == "Ready"
    assert nodes(lab)["kubh2"]["spec"].get("unschedulable") is None


def test_server_dry_runs_store_nothing(cluster):
    lab, _ = cluster
    kubectl(lab, "create deployment dry --image=%s --replicas=1" % WEB)
    kubectl(lab, "rollout status deployment/dry --timeout=60s", timeout=90)
    assert kubectl(lab, "scale deployment dry --replicas=4 --dry-run=server").stdout.strip() == \
        "deployment.apps/dry scaled (server dry run)"
    assert kubectl(lab, "label deployment dry colour=blue --dry-run=server").stdout.strip() == \
        "deployment.apps/dry labeled (server dry run)"
    replaced = kubectl(lab, "get deployment dry -o json").stdout.replace('"replicas": 1', '"replicas": 2', 1)
    assert kubectl(lab, "replace --dry-run=server -f -", stdin=replaced).stdout.strip() == \
        "deployment.apps/dry replaced (server dry run)"
    assert kubectl(lab, "cordon kubh2 --dry-run=server").stdout.strip() == "node/kubh2 cordoned (server dry run)"
    drained = kubectl(lab, "drain kubh2 --ignore-daemonsets --delete-emptydir-data --force --dry-run=server "
                           "--timeout=30s", timeout=60)
    assert "node/kubh2 drained (server dry run)" in drained.stdout, drained.stdout + drained.stderr
    deleted = kubectl(lab, "delete deployment dry --dry-run=server").stdout.strip()
    assert deleted.startswith('deployment.apps "dry" deleted') and deleted.endswith("(server dry run)")
    deployment = json.loads(kubectl(lab, "get deployment dry -o json").stdout)
    assert deployment["spec"]["replicas"] == 1 and "colour" not in deployment["metadata"].get("labels", {})
    assert len(listed(lab, "pods -l app=dry")) == 1
    assert nodes(lab)["kubh2"]["spec"].get("unschedulable") is None
    kubectl(lab, "delete deployment dry")


def test_drain_then_delete_node(cluster):
    lab, _ = cluster
    def on_kubh3():
        return kubectl(lab, "get pods -A --field-selector spec.nodeName=kubh3 -o json").stdout

    # an unmanaged pod on the node: the real client refuses without --force
    kubectl(lab, "run lonely --image=" + BUSYBOX + " --overrides='{\"spec\": {\"nodeName\": \"kubh3\"}}'")
    refused = kubectl(lab, "drain kubh3 --ignore-daemonsets --delete-emptydir-data --timeout=30s", check=False)
    assert refused.returncode == 1 and "node/kubh3 cordoned" in refused.stdout
    assert "cannot delete Pods that declare no controller (use --force to override): default/lonely" in \
        refused.stderr
    kubectl(lab, "delete pod lonely")
    drained = kubectl(lab, "drain kubh3 --ignore-daemonsets --delete-emptydir-data --timeout=60s", timeout=90)
    out = drained.stdout + drained.stderr
    assert "node/kubh3 already cordoned" in out
    assert re.search(r"Warning: ignoring DaemonSet-managed Pods: kube-flannel/kube-flannel-ds-\w+", out), out
    assert "node/kubh3 drained" in out
    evicting = re.findall(r"^evicting pod \S+/(\S+)$", out, re.M)
    assert evicting and sorted(evicting) == sorted(re.findall(r"^pod/(\S+) evicted$", out, re.M)), out
    left = json.loads(on_kubh3())["items"]
    assert left and all(o["kind"] == "DaemonSet" for p in left for o in p["metadata"]["ownerReferences"])
    assert kubectl(lab, "delete node kubh3").stdout.strip() == 'node "kubh3" deleted'
    assert "kubh3" not in kubectl(lab, "get nodes -o name").stdout
    assert kubectl(lab, "delete node kubh3 --ignore-not-found").stdout == ""


def test_rollout_restart_replaces_the_pods_through_a_new_replicaset(cluster):
    lab, _ = cluster
    items = lambda args: listed(lab, args)  # noqa: E731
    old = rolled_out(lab, "fresh")
    before = {p["metadata"]["name"] for p in items("pods -l app=fresh")}
    # the client patches spec.template.metadata.annotations: a new pod template
    assert kubectl(lab, "rollout restart deployment/fresh").stdout.strip() == "deployment.apps/fresh restarted"
    status = kubectl(lab, "rollout status deployment/fresh --timeout=60s", timeout=90).stdout
    assert status.splitlines()[-1] == 'deployment "fresh" successfully rolled out'
    template = json.loads(kubectl(lab, "get deployment fresh -o json").stdout)["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    sets = {r["metadata"]["name"]: r for r in items("replicasets -l app=fresh")}
    assert len(sets) == 2 and sets[old["metadata"]["name"]]["spec"]["replicas"] == 0
    [new] = [r for name, r in sets.items() if name != old["metadata"]["name"]]
    assert new["status"]["readyReplicas"] == 2
    assert "kubectl.kubernetes.io/restartedAt" in new["spec"]["template"]["metadata"]["annotations"]
    assert wait_for(lambda: {p["metadata"]["ownerReferences"][0]["name"] for p in items("pods -l app=fresh")} ==
                    {new["metadata"]["name"]}, 30)
    after = {p["metadata"]["name"] for p in items("pods -l app=fresh")}
    assert len(after) == 2 and not after & before
    kubectl(lab, "delete deployment fresh")


def test_drain_of_a_missing_node_changes_nothing(cluster):
    lab, _ = cluster
    refused = kubectl(lab, "drain kubh2 nosuchnode --ignore-daemonsets --timeout=10s", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == 'Error from server (NotFound): nodes "nosuchnode" not found'
    assert nodes(lab)["kubh2"]["spec"].get("unschedulable") is None   # kubh2 was not cordoned either


WIDGETS = (pathlib.Path(__file__).parent.parent / "e2e" / "data" / "widgets-crd.yaml").read_text()


def cluster_scoped_gadgets():
    """The widgets' CRD made over into one of cluster-scoped Gadgets."""
    crd = yaml.safe_load(WIDGETS)
    crd["metadata"]["name"] = "gadgets.example.com"
    crd["spec"].update(scope="Cluster", names={"plural": "gadgets", "singular": "gadget", "kind": "Gadget"})
    return crd


CRDS = WIDGETS + "---\n" + yaml.safe_dump(cluster_scoped_gadgets())
CUSTOM = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: parts}
spec: {size: 3}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1}
spec: {colour: red}
"""


def test_api_resources_lists_what_the_server_serves_and_a_crd_serves_its_custom_resources(cluster):
    lab, _ = cluster
    namespaced = kubectl(lab, "api-resources --namespaced=true --verbs=list -o name").stdout.split()
    assert {"networkpolicies.networking.k8s.io", "resourcequotas", "leases.coordination.k8s.io", "configmaps",
            "deployments.apps"} <= set(namespaced)
    assert "widgets.example.com" not in namespaced
    assert kubectl(lab, "apply -f -", stdin=CRDS).stdout.splitlines() == [
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created",
        "customresourcedefinition.apiextensions.k8s.io/gadgets.example.com created"]
    waited = kubectl(lab, "wait --for=condition=Established crd/widgets.example.com crd/gadgets.example.com "
                          "--timeout=30s", timeout=60).stdout
    assert waited.count("condition met") == 2
    table = kubectl(lab, "api-resources --api-group=example.com").stdout.splitlines()
    assert table[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert sorted(line.split() for line in table[1:]) == [["gadgets", "example.com/v1", "false", "Gadget"],
                                                          ["widgets", "wd", "example.com/v1", "true", "Widget"]]
    kubectl(lab, "create namespace parts")
    assert kubectl(lab, "apply -f -", stdin=CUSTOM).stdout.splitlines() == ["widget.example.com/w1 created",
                                                                            "gadget.example.com/g1 created"]
    assert kubectl(lab, "get wd -n parts -o name").stdout.strip() == "widget.example.com/w1"
    # served at their paths: the widget in its namespace, the cluster-scoped gadget without one
    widget = json.loads(kubectl(lab, "get --raw /apis/example.com/v1/namespaces/parts/widgets/w1").stdout)
    assert (widget["kind"], widget["spec"], widget["metadata"]["namespace"]) == ("Widget", {"size": 3}, "parts")
    gadget = json.loads(kubectl(lab, "get --raw /apis/example.com/v1/gadgets/g1").stdout)
    assert "namespace" not in gadget["metadata"]
    assert kubectl(lab, "get gadgets -o name").stdout.strip() == "gadget.example.com/g1"
    # a CRD deleted takes its resources with it, and the server stops serving them
    assert kubectl(lab, "delete crd gadgets.example.com").stdout.strip() == \
        'customresourcedefinition.apiextensions.k8s.io "gadgets.example.com" deleted'
    gone = kubectl(lab, "get gadgets --cache-dir /dev/null", check=False)   # discovery afresh, as kub reads it
    assert gone.returncode == 1 and 'the server doesn\'t have a resource type "gadgets"' in gone.stderr
    missing = kubectl(lab, "get --raw /apis/example.com/v1/gadgets/g1", check=False)
    assert missing.returncode == 1 and "(NotFound)" in missing.stderr


def delete_options(uid):
    return json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}})


def test_a_delete_with_a_uid_precondition_takes_only_that_object(cluster):
    lab, _ = cluster
    kubectl(lab, "apply -f -", stdin=CRDS)
    kubectl(lab, "create namespace parts --dry-run=client -o yaml | kubectl apply -f -")
    kubectl(lab, "apply -f -", stdin=CUSTOM)
    kubectl(lab, "create configmap kept -n parts --from-literal=a=b")
    config = json.loads(kubectl(lab, "get configmap kept -n parts -o json").stdout)["metadata"]
    # another uid (the object was made again since): the server refuses, as the real one answers
    refused = kubectl(lab, "delete --raw /api/v1/namespaces/parts/configmaps/kept -f -", stdin=delete_options("0ld"),
                      check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f'Error from server (Conflict): Operation cannot be fulfilled on ConfigMap "kept": the UID in the '
        f'precondition (0ld) does not match the UID in record ({config["uid"]}). The object might have been '
        f'deleted and then recreated')
    after = json.loads(kubectl(lab, "get configmap kept -n parts -o json").stdout)["metadata"]
    assert (after["uid"], after["resourceVersion"]) == (config["uid"], config["resourceVersion"])
    widget = json.loads(kubectl(lab, "get widget w1 -n parts -o json").stdout)["metadata"]
    path = "/apis/example.com/v1/namespaces/parts/widgets/w1"
    refused = kubectl(lab, f"delete --raw {path} -f -", stdin=delete_options("0ld"), check=False)
    assert 'Operation cannot be fulfilled on Widget.example.com "w1": the UID in the precondition (0ld)' in \
        refused.stderr
    # the uid it has: deleted
    kubectl(lab, f"delete --raw {path} -f -", stdin=delete_options(widget["uid"]))
    kubectl(lab, "delete --raw /api/v1/namespaces/parts/configmaps/kept -f -", stdin=delete_options(config["uid"]))
    left = kubectl(lab, "get widgets,configmaps -n parts -o name").stdout.split()
    assert [name for name in left if name != "configmap/kube-root-ca.crt"] == []
    kubectl(lab, "delete namespace parts && kubectl delete crd widgets.example.com gadgets.example.com")
