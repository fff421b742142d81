"""The kub_* workflows with the real cfy CLI on a lab cluster (host 1 the master, host 2 a minion): each once with
good parameters, its effect checked with kubectl on the master, and once with bad ones, refused in one line
before anything changes."""
import json
import re
from pathlib import Path

import pytest
from e2e_support import WEB_IMAGE, cluster_inputs

from kub_lab.cfy import LocalCfy

pytestmark = pytest.mark.lab
HOSTS = (1, 2)
DATA = Path(__file__).parent / "data"
KEY = "sh3lf-key-never-logged"
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf "
# the options every workflow runs with: kub errors are final, so no retries
OPTIONS = ("--task-retries", "0")


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    cfy = LocalCfy(tmp_path_factory.mktemp("workflows"), blueprint_id="flows")
    cfy.stage([DATA / "shelf.yaml"])
    cfy.init(cluster_inputs(lab, master=HOSTS[0], minions=HOSTS[1:]))
    try:
        cfy.install()
        yield cfy
    finally:   # also after a failed install: the next module's cluster gets clean hosts
        for i in HOSTS:
            lab.wipe(i)


def kub(cfy, workflow, check=True, **params):
    """Runs a kub_* workflow; returns cfy's output."""
    result = cfy.execute(workflow, params, check=check, options=OPTIONS)
    return result.stdout if check else result


def kubectl(lab, args):
    return lab.exec(HOSTS[0], KUBECTL + args).stdout


def kubectl_json(lab, args):
    return json.loads(kubectl(lab, args + " -o json"))


def objects(lab):
    """Every object of the kinds the workflows touch, as its users set it (not its status, which controllers and
    kubelets keep writing): what a refused run leaves alone."""
    listed = kubectl_json(lab, "get deployments,replicasets,services,configmaps,secrets,nodes -A")["items"]
    return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]):
            json.dumps([o["metadata"]["uid"], o["metadata"].get("annotations"), o.get("spec"), o.get("data")])
            for o in listed}


def test_apply_a_manifest_beside_the_blueprint_and_inline(lab, cluster):
    out = kub(cluster, "kub_apply", manifest="shelf.yaml")
    assert "kubectl apply: configmap/shelf created; secret/shelf-key created" in out
    config = kubectl_json(lab, "get configmap shelf -n default")
    assert config["data"] == {"colour": "blue"}
    assert "kub/workload" not in (config["metadata"].get("annotations") or {})   # a plain cluster object
    assert kubectl(lab, "get secret shelf-key -o jsonpath={.data.key} | base64 -d") == KEY
    out += kub(cluster, "kub_apply", manifest="apiVersion: v1\nkind: Namespace\nmetadata: {name: store}\n")
    out += kub(cluster, "kub_apply", namespace="store",
               manifest=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inline"}}))
    assert kubectl(lab, "get configmap inline -n store -o name").strip() == "configmap/inline"
    again = kub(cluster, "kub_apply", manifest="shelf.yaml")
    assert "kubectl apply: no change" in again
    # each object is told: those kubectl found as they were too
    assert f"[{lab.host_ip(1)}] configmap/shelf unchanged" in again and "secret/shelf-key unchanged" in again
    assert KEY not in out + again and KEY not in json.dumps(cluster.node_instances())


def test_run_then_expose(lab, cluster):
    out = kub(cluster, "kub_run", name="web", image=WEB_IMAGE, replicas=2, port=80)
    assert "kubectl create deployment: deployment.apps/web created" in out
    assert 'deployment "web" successfully rolled out' in out     # it waited for the pods
    web = kubectl_json(lab, "get deployment web")
    assert web["spec"]["replicas"] == 2 and web["status"]["readyReplicas"] == 2
    assert [p["containerPort"] for p in web["spec"]["template"]["spec"]["containers"][0]["ports"]] == [80]
    out = kub(cluster, "kub_expose", name="web", port=80, type="NodePort")
    service = kubectl_json(lab, "get service web")
    node_port = service["spec"]["ports"][0]["nodePort"]
    assert service["spec"]["type"] == "NodePort" and service["spec"]["selector"] == {"app": "web"}
    assert "kubectl expose: service/web exposed" in out
    assert f"service default/web: NodePort {service['spec']['clusterIP']} 80/TCP (node port {node_port})" in out


def test_scale_waits_for_the_rollout(lab, cluster):
    out = kub(cluster, "kub_scale", name="web", replicas=3)
    assert "kubectl scale: deployment.apps/web scaled" in out
    assert 'deployment "web" successfully rolled out' in out
    assert kubectl_json(lab, "get deployment web")["status"]["readyReplicas"] == 3


def test_rollout_restart_replaces_the_pods(lab, cluster):
    before = {p["metadata"]["name"] for p in kubectl_json(lab, "get pods -l app=web")["items"]}
    out = kub(cluster, "kub_rollout_restart", name="web")
    assert "kubectl rollout restart: deployment.apps/web restarted" in out
    assert 'deployment "web" successfully rolled out' in out
    web = kubectl_json(lab, "get deployment web")
    assert "kubectl.kubernetes.io/restartedAt" in web["spec"]["template"]["metadata"]["annotations"]
    sets = sorted(r["spec"]["replicas"] for r in kubectl_json(lab, "get replicasets -l app=web")["items"])
    assert sets == [0, 3]
    after = {p["metadata"]["name"] for p in kubectl_json(lab, "get pods -l app=web")["items"]}
    assert len(after) == 3 and not after & before


def test_get_logs_kubectl_s_table(lab, cluster):
    out = kub(cluster, "kub_get", kind="deployment", name="web")
    header = next(line for line in out.splitlines() if "NAME" in line)
    assert header.split()[-5:] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert any(line.split()[-5:-1] == ["web", "3/3", "3", "3"] for line in out.splitlines()), out
    nodes = kub(cluster, "kub_get", kind="nodes")
    assert re.search(r"\] kubh2 +Ready +<none> ", nodes), nodes


def test_drain_then_uncordon(lab, cluster):
    out = kub(cluster, "kub_drain", nodes=["kubh2"])
    assert "node/kubh2 cordoned" in out and "node/kubh2 drained" in out
    assert kubectl_json(lab, "get node kubh2")["spec"]["unschedulable"] is True
    left = kubectl_json(lab, "get pods -A --field-selector spec.nodeName=kubh2")["items"]
    assert left and all(o["kind"] == "DaemonSet" for p in left for o in p["metadata"]["ownerReferences"])
    out = kub(cluster, "kub_uncordon", nodes=["kubh2"])
    assert "kubectl uncordon: node/kubh2 uncordoned" in out
    assert "unschedulable" not in kubectl_json(lab, "get node kubh2")["spec"]


def test_delete_by_name_and_by_manifest(lab, cluster):
    out = kub(cluster, "kub_delete", kind="service", name="web")
    assert 'kubectl delete: service "web" deleted' in out
    out = kub(cluster, "kub_delete", manifest="shelf.yaml")
    assert 'configmap "shelf" deleted' in out and 'secret "shelf-key" deleted' in out
    assert KEY not in out
    assert kubectl(lab, "get service/web configmap/shelf secret/shelf-key --ignore-not-found -o name") == ""
    again = kub(cluster, "kub_delete", kind="service", name="web")
    assert 'kubectl delete: services "web" not found in namespace default: no change' in again


def test_objects_of_a_workload_node_are_refused(lab, cluster):
    lab.exec(HOSTS[0], KUBECTL + "create configmap owned --from-literal=a=b && " + KUBECTL +
             "annotate configmap owned kub/workload=shop/web_x1y2z3")
    before = objects(lab)
    refused = kub(cluster, "kub_delete", check=False, kind="configmap", name="owned")
    assert refused.returncode != 0
    assert ("ConfigMap default/owned belongs to node instance web_x1y2z3 of deployment shop (annotation "
            "kub/workload): kub does not delete it here") in refused.stdout
    refused = kub(cluster, "kub_apply", check=False,
                  manifest="{apiVersion: v1, kind: ConfigMap, metadata: {name: owned}, data: {a: c}}")
    assert "kub does not apply over it here" in refused.stdout
    assert objects(lab) == before


def test_an_apply_refused_part_way_tells_what_it_made_and_why_the_rest_was_refused(lab, cluster):
    manifest = ("{apiVersion: v1, kind: ConfigMap, metadata: {name: first}, data: {a: b}}\n---\n"
                "{apiVersion: v1, kind: ConfigMap, metadata: {name: second, namespace: nowhere}}\n")
    failed = kub(cluster, "kub_apply", check=False, manifest=manifest)
    assert failed.returncode != 0
    assert f"[{lab.host_ip(1)}] kubectl apply: configmap/first created (before it failed)" in failed.stdout
    assert (f'{lab.host_ip(1)}: kubectl apply failed: Error from server (NotFound): error when creating "STDIN": '
            f'namespaces "nowhere" not found') in failed.stdout, failed.stdout[-2000:]
    assert kubectl(lab, "get configmap first -o name").strip() == "configmap/first"
    kubectl(lab, "delete configmap first")


def test_what_the_api_server_refuses_is_told_per_object_in_its_words(lab, cluster):
    manifest = ("{apiVersion: v1, kind: ConfigMap, metadata: {name: valid}}\n---\n"
                "{apiVersion: apps/v1, kind: Deployment, metadata: {name: noselector}, spec: {template: {metadata: "
                "{labels: {app: x}}, spec: {containers: [{name: x, image: nginx}]}}}}\n---\n"
                "{apiVersion: v1, kind: Service, metadata: {name: farport}, spec: {ports: [{port: 99999}]}}\n")
    failed = kub(cluster, "kub_apply", check=False, manifest=manifest)
    assert failed.returncode != 0
    assert f"[{lab.host_ip(1)}] kubectl apply: configmap/valid created (before it failed)" in failed.stdout
    # each refused object with the API server's reason, as kubectl apply prints it
    assert ('kubectl apply failed: Error from server (Invalid): error when creating "STDIN": Deployment.apps '
            '"noselector" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: '
            ) in failed.stdout, failed.stdout[-2000:]
    assert ('; Error from server (Invalid): error when creating "STDIN": Service "farport" is invalid: '
            '[spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive') in failed.stdout
    assert kubectl(lab, "get deployment noselector service farport --ignore-not-found -o name").strip() == ""
    kubectl(lab, "delete configmap valid")


def test_kubectl_s_own_error_fails_the_workflow_in_one_line(lab, cluster):
    before = objects(lab)
    failed = kub(cluster, "kub_scale", check=False, name="nosuch", replicas=2)
    assert failed.returncode != 0
    assert (f'{lab.host_ip(1)}: kubectl scale failed: Error from server (NotFound): deployments.apps "nosuch" '
            f"not found") in failed.stdout
    assert "Traceback" not in failed.stdout
    assert objects(lab) == before


BAD = [
    ("kub_apply", {"manifest": "missing.yaml"}, "bad input: node master (kub_apply): manifest missing.yaml not found "
                                                "beside the blueprint"),
    ("kub_apply", {"manifest": "kind: [x\nmetadata: {}\n"}, "bad input: node master (kub_apply): manifest (inline) "
                                                            "is not valid YAML at line 2"),
    ("kub_delete", {"kind": "gadget", "name": "web"}, "bad input: node master (kub_delete): kind 'gadget' is not a "
                                                      "kind kub deletes"),
    ("kub_run", {"name": "web2", "image": "nginx", "replicas": -1}, "bad input: node master (kub_run): replicas -1 "
                                                                    "must be a whole number, 0 or more"),
    ("kub_expose", {"name": "web", "port": 99999}, "bad input: node master (kub_expose): port 99999 must be a port "
                                                   "number from 1 to 65535"),
    ("kub_expose", {"name": "web", "port": 80, "type": "External"}, "bad input: node master (kub_expose): type "
                                                                    "'External' is not a Service type kub makes"),
    ("kub_scale", {"name": "web", "replicas": 1, "node_id": "minions"},
     "bad input: kub_scale: node_id 'minions' is not a cluster node of this deployment: give one of master "
     "(kub.nodes.Master)"),
    ("kub_rollout_restart", {"name": "Web"}, "bad input: node master (kub_rollout_restart): name 'Web' is not a "
                                             "Kubernetes object name"),
    ("kub_drain", {"nodes": ["kubh2", "no such"]}, "bad input: node master (kub_drain): nodes ['kubh2', 'no such'] "
                                                   "must be a list of Kubernetes node names"),
    ("kub_uncordon", {"nodes": []}, "bad input: node master (kub_uncordon): nodes is missing"),
    # refused by cfy itself, from the parameters' types in plugin.yaml
    ("kub_uncordon", {}, 'Workflow "kub_uncordon" must be provided with the following parameters to execute: nodes'),
    ("kub_apply", {"manifest": {"kind": "ConfigMap"}}, 'Parameter "manifest" must be of type string'),
    ("kub_get", {"kind": "gadgets"}, "bad input: node master (kub_get): kind 'gadgets' is not a kind kub knows"),
]


def test_bad_parameters_are_refused_before_anything_changes(lab, cluster):
    before = objects(lab)
    for workflow, params, message in BAD:
        result = kub(cluster, workflow, check=False, **params)
        assert result.returncode != 0, workflow
        assert message in result.stdout, (workflow, result.stdout[-2000:])
        assert "Traceback" not in result.stdout, result.stdout[-2000:]
    assert objects(lab) == before
