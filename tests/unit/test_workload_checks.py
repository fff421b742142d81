"""Workload checks and readiness, as data: each bad input is one line naming the node, the problem and the fix."""
import json
import pathlib

import pytest
import yaml
from test_steps import FakeHost

from kub_plugin.errors import ConfigError
from kub_plugin.hosts.runner import StepError
from kub_plugin.hosts.ssh import Result
from kub_plugin.local import manifests
from kub_plugin.workloads import model, ownership, readiness, steps

NODE = "web"
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}

BAD_PROPERTIES = [
    ({}, "node web: nothing to apply: set manifests (files or URLs) and/or resources"),
    ({"manifests": [], "resources": []}, "node web: nothing to apply"),
    ({"manifests": [3]}, "node web: manifests [3] must be a list of paths or URLs"),
    ({"manifests": [""]}, "must be a list of paths or URLs"),
    ({"manifests": {"a": 1}}, "must be a list of paths or URLs"),
    ({"resources": {"kind": "ConfigMap"}}, "node web: resources must be a list of Kubernetes objects"),
]

BAD_SETTINGS = [
    ({"namespace": "Shop"}, "node web: namespace 'Shop' is not a Kubernetes namespace name"),
    ({"namespace": "shop_1"}, "is not a Kubernetes namespace name"),
    ({"namespace": "a" * 64}, "is not a Kubernetes namespace name"),
    ({"timeout": 0}, "node web: timeout 0 must be a whole number of seconds above 0 (the default is 300)"),
    ({"timeout": "60"}, "node web: timeout '60' must be a whole number"),
    ({"timeout": True}, "node web: timeout True must be a whole number"),
]

BAD_MANIFESTS = [
    ("kind: [Deployment\n", "node web: manifest web.yaml is not valid YAML at line 2"),
    ("a: b\n c: d\n", "node web: manifest web.yaml is not valid YAML at line 2 (mapping values are not allowed"),
    ("- 1\n- 2\n", "node web: web.yaml document 1 is a list, not a Kubernetes object: give a mapping with "
                   "apiVersion, kind and metadata.name"),
    ("just text\n", "node web: web.yaml document 1 is text, not a Kubernetes object"),
    ("{apiVersion: v1}\n---\nkind: List\napiVersion: v1\nitems: [3]\n",
     "node web: web.yaml document 2 item 1 is a number, not a Kubernetes object"),
]

BAD_OBJECTS = [
    ({"kind": "Deployment", "metadata": {"name": "web"}}, "node web: web.yaml document 1 has no apiVersion: give "
                                                          "every object apiVersion, kind and metadata.name"),
    ({"apiVersion": "v1", "metadata": {"name": "web"}}, "node web: web.yaml document 1 has no kind"),
    ({"apiVersion": "v1", "kind": "ConfigMap"}, "node web: web.yaml document 1 (ConfigMap) has no metadata.name"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cm-"}},
     "has no metadata.name: give it a name (generateName makes a new object on every run"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Web"}},
     "node web: web.yaml document 1: ConfigMap name 'Web' is not a Kubernetes name"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "A B"}},
     "metadata.namespace 'A B' is not a namespace name"),
]


@pytest.mark.parametrize("props, expected", BAD_PROPERTIES)
def test_bad_sources(props, expected):
    with pytest.raises(ConfigError) as err:
        model.sources(props, NODE)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("props, expected", BAD_SETTINGS)
def test_bad_settings(props, expected):
    with pytest.raises(ConfigError) as err:
        model.settings(props, NODE)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text, expected", BAD_MANIFESTS)
def test_bad_manifests(text, expected):
    with pytest.raises(ConfigError) as err:
        model.parse_manifest(text, "web.yaml", NODE)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("obj, expected", BAD_OBJECTS)
def test_bad_objects(obj, expected):
    with pytest.raises(ConfigError) as err:
        model.objects_of([(obj, "web.yaml document 1")], "shop", NODE)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_an_object_given_twice_is_refused():
    with pytest.raises(ConfigError, match=r"node web: Deployment shop/web is given twice \(a and b\): keep one"):
        model.objects_of([(DEPLOYMENT, "a"), (DEPLOYMENT, "b")], "shop", NODE)


def test_namespaces_lists_and_ownership():
    text = ("---\n" + "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: x}}\n"
            "- {apiVersion: v1, kind: Secret, metadata: {name: s, namespace: other}, data: {k: c2VjcmV0}}\n"
            "---\n\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    objects = model.objects_of(model.parse_manifest(text, "m.yaml", NODE), "shop", NODE)
    assert [ref.label for _, ref in objects] == ["Namespace x", "Secret other/s", "Deployment shop/web"]
    owned = ownership.owned(objects, "dep/web_1")
    assert [o["metadata"].get("namespace") for o in owned] == [None, "other", "shop"]
    assert all(o["metadata"]["annotations"] == {"kub/workload": "dep/web_1"} for o in owned)
    assert DEPLOYMENT["metadata"] == {"name": "web"}   # the given objects stay as they were
    assert model.secret_values(owned) == ["c2VjcmV0", "secret"]
    # stringData goes in as data, as the API server would store it
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA=="},
              "stringData": {"b": "pa55"}}
    [applied] = ownership.owned(model.objects_of([(secret, "r")], "shop", NODE), "dep/web_1")
    assert applied["data"] == {"a": "eA==", "b": "cGE1NQ=="} and "stringData" not in applied
    assert "pa55" in model.secret_values([applied])
    # what names objects to kubectl carries no data
    assert objects[1][1].stub() == {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
                                                                                       "namespace": "other"}}


def test_strangers_are_objects_another_made():
    ref = model.Ref("v1", "ConfigMap", "shop", "a")
    mine = {"metadata": {"annotations": {"kub/workload": "dep/web_1"}}}
    assert ownership.strangers([ref], {ref: mine}, "dep/web_1") == []
    assert ownership.strangers([ref], {ref: {"metadata": {}}}, "dep/web_1") == [ref]
    assert ownership.strangers([ref], {ref: mine}, "dep/web_2") == [ref]
    assert ownership.strangers([ref], {}, "dep/web_1") == []


READINESS = [
    ("Deployment", None, (False, "missing")),
    ("Deployment", {"metadata": {"generation": 2}, "spec": {"replicas": 2},
                    "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2,
                               "availableReplicas": 2, "replicas": 2}}, (True, "2/2 ready")),
    ("Deployment", {"metadata": {"generation": 3}, "spec": {"replicas": 2},
                    "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2,
                               "availableReplicas": 2, "replicas": 2}}, (False, "2/2 ready")),
    ("Deployment", {"metadata": {"generation": 1}, "spec": {"replicas": 3},
                    "status": {"observedGeneration": 1, "readyReplicas": 1, "replicas": 3}}, (False, "1/3 ready")),
    ("Deployment", {"metadata": {"generation": 1}, "spec": {"replicas": 2},
                    "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2,
                               "availableReplicas": 2, "replicas": 3}}, (False, "2/2 ready")),   # old pods left
    ("Deployment", {"metadata": {}, "spec": {}, "status": {"conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}},
     (None, "its rollout exceeded its progress deadline")),
    ("StatefulSet", {"metadata": {"generation": 1}, "spec": {"replicas": 1},
                     "status": {"observedGeneration": 1, "readyReplicas": 1, "replicas": 1}}, (True, "1/1 ready")),
    ("DaemonSet", {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2,
                                                             "numberReady": 1, "updatedNumberScheduled": 2}},
     (False, "1/2 ready")),
    ("Job", {"spec": {"completions": 1}, "status": {"succeeded": 1, "conditions": [
        {"type": "Complete", "status": "True"}]}}, (True, "1/1 complete")),
    ("Job", {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                        "message": "Job has reached the specified backoff limit"}]}},
     (None, "failed (BackoffLimitExceeded: Job has reached the specified backoff limit)")),
    ("Pod", {"status": {"phase": "Pending"}}, (False, "Pending")),
    ("Pod", {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}, (True, "Running")),
    ("Service", {"spec": {"type": "ClusterIP"}}, (False, "no cluster IP yet")),
    ("Service", {"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10"}}, (True, "ClusterIP 10.96.0.10")),
    ("Service", {"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [{"port": 80}]}},
     (False, "no node port yet")),
    ("Service", {"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [{"port": 80, "nodePort": 30080}]}},
     (True, "NodePort 10.96.0.10")),
    ("Namespace", {"status": {"phase": "Terminating"}}, (False, "Terminating")),
    ("ConfigMap", {"data": {}}, (True, "present")),
]


@pytest.mark.parametrize("kind, live, expected", READINESS)
def test_readiness(kind, live, expected):
    assert readiness.readiness(model.Ref("v1", kind, "shop", "x"), live) == expected


def test_service_endpoints():
    ref = model.Ref("v1", "Service", "shop", "web")
    live = {"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080},
        {"port": 53, "protocol": "UDP"}]}}
    assert readiness.endpoints(ref, live) == {
        "namespace": "shop", "name": "web", "type": "NodePort", "cluster_ip": "10.96.0.10",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "target_port": 8080, "node_port": 30080},
                  {"name": "", "port": 53, "protocol": "UDP", "target_port": 53}]}


def test_manifest_sources(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text("kind: ConfigMap\n")
    assert manifests.workload_manifest(str(path), manifests.Sources(None, local_mode=True), NODE) == "kind: ConfigMap\n"

    def read_missing(name):
        raise RuntimeError(name)
    missing = manifests.Sources(read_missing, local_mode=True)
    with pytest.raises(ConfigError, match="node web: manifest app.yaml not found beside the blueprint: give a path "
                                          "relative to the blueprint's folder, an absolute path, or a URL"):
        manifests.workload_manifest("app.yaml", missing, NODE)
    assert manifests.workload_manifest("app.yaml", manifests.Sources(lambda name: b"kind: Service\n", local_mode=False),
                              NODE) == "kind: Service\n"
    with pytest.raises(ConfigError, match=f"node web: manifest {tmp_path}/gone.yaml cannot be read"):
        manifests.workload_manifest(str(tmp_path / "gone.yaml"), missing, NODE)
    (tmp_path / "bin").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        manifests.workload_manifest(str(tmp_path / "bin"), missing, NODE)


def test_plugin_yaml_repeats_the_workload_defaults():
    plugin = yaml.safe_load((pathlib.Path(__file__).parents[2] / "plugin.yaml").read_text())
    props = plugin["node_types"]["kub.nodes.Workload"]["properties"]
    assert {name: props[name]["default"] for name in ("namespace", "timeout")} == \
        {"namespace": model.DEFAULT_NAMESPACE, "timeout": model.DEFAULT_TIMEOUT}
    assert model.settings({}, NODE) == model.WorkloadSettings("default", 300)


# -- the kubectl steps, over a host that answers from a table --------------------------------------------

KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf --cache-dir /dev/null "


def _host(answers):
    return FakeHost(answers)


def test_a_pod_that_cannot_be_scheduled_is_named_when_the_wait_ends():
    web = model.Ref("apps/v1", "Deployment", "shop", "web")
    live = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "generation": 1},
            "spec": {"replicas": 1}, "status": {"observedGeneration": 1, "replicas": 1}}
    pods = {"items": [{"metadata": {"name": "web-abc-x1"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."}]}}]}
    host = _host({KUBECTL + "get -f -": Result(json.dumps({"kind": "List", "items": [live]}), "", 0),
                  KUBECTL + "get pods -n shop": Result(json.dumps(pods), "", 0)})
    with pytest.raises(StepError) as err:
        steps.wait_ready(host, [web], timeout=0, interval=0)
    assert str(err.value) == (
        "10.9.9.9: not ready after 0 s: Deployment shop/web (0/1 ready); pod shop/web-abc-x1 cannot be scheduled: "
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.: check the pods (kubectl "
        "describe pod) and the nodes, or raise the workload's timeout")


def test_a_failed_job_ends_the_wait_at_once():

    job = model.Ref("batch/v1", "Job", "shop", "seed")
    live = {"kind": "Job", "metadata": {"name": "seed", "namespace": "shop"}, "status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"}]}}
    host = _host({KUBECTL + "get -f -": Result(json.dumps(live), "", 0)})
    with pytest.raises(StepError, match=r"^10\.9\.9\.9: Job shop/seed failed \(BackoffLimitExceeded: limit\): "):
        steps.wait_ready(host, [job], timeout=300, interval=0)


def test_apply_sends_the_objects_on_stdin_only():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "hush-hush"}}
    objects = ownership.owned(model.objects_of([(secret, "r")], "shop", NODE), "dep/web_1")
    host = _host({})
    steps.apply(host, "workload web", objects, "shop", "dep/web_1")
    [(name, env, secret_env, lock)] = host.scripts
    assert name == "workload-apply.sh" and lock is not None
    assert env["KUB_NAMESPACE"] == "shop"
    assert "aHVzaC1odXNo" not in str(env) and "hush-hush" not in str(env)
    assert "aHVzaC1odXNo" in secret_env["KUB_MANIFEST"]     # base64 of the value, in the stream kubectl reads
    assert host.logged == ["workload web: did it"]


def test_nothing_to_delete_runs_nothing():
    host = _host({})
    assert steps.delete(host, "delete workload web", [], 60) == []
    assert host.scripts == [] and host.logged == ["delete workload web: no change"]


def test_a_namespace_is_rendered_as_an_object_so_its_name_stays_a_string():
    host = _host({})
    for name in ("123", "true", "null", "on"):
        steps.apply(host, "workload web", [], name, "dep/web_1")
        rendered = yaml.safe_load(host.scripts[-1][1]["KUB_NAMESPACE_OBJECT"])
        assert rendered == {"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": name, "annotations": {"kub/workload": "dep/web_1"}}}


API_RESOURCES = """\
NAME                  SHORTNAMES   APIVERSION                  NAMESPACED   KIND
configmaps            cm           v1                          true         ConfigMap
namespaces            ns           v1                          false        Namespace
events                ev           v1                          true         Event
deployments           deploy       apps/v1                     true         Deployment
leases                             coordination.k8s.io/v1      true         Lease
networkpolicies       netpol       networking.k8s.io/v1        true         NetworkPolicy
events                ev           events.k8s.io/v1            true         Event
gadgets                            example.com/v1              false        Gadget
widgets               wd           example.com/v1              true         Widget
"""


def test_the_kinds_the_api_server_serves_are_read_from_kubectl_s_table():
    host = _host({KUBECTL + "api-resources": Result(API_RESOURCES, "", 0)})
    served, complete = steps.api_resources(host)
    assert complete and host.commands == [KUBECTL + "api-resources --verbs=list"]
    assert served[("coordination.k8s.io", "Lease")] == steps.ApiResource("leases", "coordination.k8s.io", "Lease",
                                                                         True)
    assert served[("example.com", "Gadget")].namespaced is False
    assert served[("", "ConfigMap")].qualified == "configmaps"
    assert served[("example.com", "Widget")].qualified == "widgets.example.com"
    # part of discovery failed: kubectl lists the rest, and the answer says it is not complete
    partial = _host({KUBECTL + "api-resources": Result(API_RESOURCES, "error: unable to retrieve the complete list of "
                                                       "server APIs: metrics.k8s.io/v1beta1: stale", 1)})
    assert steps.api_resources(partial)[1] is False


def test_deletes_go_by_api_path_with_the_recorded_uid():
    host = _host({KUBECTL + "api-resources": Result(API_RESOURCES, "", 0)})
    targets = [(model.Ref("example.com/v1", "Widget", "shop", "w"), "u1"),
               (model.Ref("example.com/v1", "Gadget", "shop", "g"), "u2"),   # cluster-scoped after all
               (model.Ref("apps/v1", "Deployment", "shop", "web"), "u3"),
               (model.Ref("v1", "Namespace", "", "shop"), "u4")]
    steps.delete(host, "delete workload web", targets, 60)
    [(name, env, _, _)] = host.scripts
    assert name == "workload-delete.sh" and env["KUB_TIMEOUT"] == "60"
    assert [line.split("|") for line in env["KUB_DELETES"].split("\n")] == [
        ["/apis/example.com/v1/namespaces/shop/widgets/w", "u1", "widgets.example.com", "shop", "w",
         'widget.example.com "w"'],
        ["/apis/example.com/v1/gadgets/g", "u2", "gadgets.example.com", "", "g", 'gadget.example.com "g"'],
        ["/apis/apps/v1/namespaces/shop/deployments/web", "u3", "deployments.apps", "shop", "web",
         'deployment.apps "web"'],
        ["/api/v1/namespaces/shop", "u4", "namespaces", "", "shop", 'namespace "shop"']]


def test_a_namespace_is_listed_in_every_namespaced_kind_but_kubernetes_own():
    items = [{"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}},
             {"kind": "ServiceAccount", "metadata": {"name": "default"}},
             {"kind": "NetworkPolicy", "metadata": {"name": "deny"}},
             {"kind": "Widget", "metadata": {"name": "w"}},
             {"kind": "ReplicaSet", "metadata": {"name": "web-1", "ownerReferences": [{"kind": "Deployment"}]}},
             # the endpoints controller's for a Service (no owner reference; they go a moment after it); a user's
             {"kind": "Endpoints", "metadata": {"name": "web", "labels": {
                 "endpoints.kubernetes.io/managed-by": "endpoint-controller"}}},
             {"kind": "Endpoints", "metadata": {"name": "external-db"}}]
    host = _host({KUBECTL + "api-resources": Result(API_RESOURCES, "", 0),
                  KUBECTL + "get ": Result(json.dumps({"kind": "List", "items": items}), "", 0)})
    found, complete = steps.namespace_objects(host, "123")
    assert [steps.described(item) for item in found] == ["networkpolicy/deny", "widget/w", "endpoints/external-db"]
    assert complete
    assert host.commands[-1] == (KUBECTL + "get configmaps,deployments.apps,leases.coordination.k8s.io,"
                                 "networkpolicies.networking.k8s.io,widgets.example.com -n 123 -o json")


class ControlPlane:
    kubeconfig = "/etc/kubernetes/admin.conf"
    lock = "/var/lib/kub/lock"


def _namespace_host(api_resources, items):
    namespace = {"kind": "Namespace", "metadata": {"name": "shop", "uid": "n1",
                                                   "annotations": {"kub/workload": "dep/web_1"}}}
    return _host({KUBECTL + "get -f -": Result(json.dumps(namespace), "", 0),
                  KUBECTL + "api-resources": api_resources,
                  KUBECTL + "get ": Result(json.dumps({"kind": "List", "items": items}), "", 0)})


def test_a_namespace_is_left_when_not_every_kind_could_be_listed():
    from kub_plugin.cfy import workload_nodes
    partial = Result(API_RESOURCES, "error: unable to retrieve the complete list of server APIs: "
                     "metrics.k8s.io/v1beta1: the server is currently unable to handle the request", 1)
    host = _namespace_host(partial, [])
    workload_nodes._delete_namespace(host, "shop", "dep/web_1", [], 60, ControlPlane)
    assert host.scripts == []
    assert host.logged == ["namespace shop (made by this workload): not every kind the API server serves could be "
                           "listed (kubectl api-resources failed for some): left as it is"]


def test_a_namespace_goes_once_only_the_endpoints_of_the_node_s_service_are_left():
    from kub_plugin.cfy import workload_nodes
    endpoints = [{"kind": "Endpoints", "metadata": {"name": "web"}}]
    host = _namespace_host(Result(API_RESOURCES, "", 0), endpoints)
    workload_nodes._delete_namespace(host, "shop", "dep/web_1", [model.Ref("v1", "Service", "shop", "web")],
                                     60, ControlPlane)
    [(name, env, _, _)] = host.scripts
    assert name == "workload-delete.sh" and env["KUB_DELETES"].split("|")[:2] == ["/api/v1/namespaces/shop", "n1"]
    # the same Endpoints without the node's Service: someone else's, so the namespace stays
    host = _namespace_host(Result(API_RESOURCES, "", 0), endpoints)
    workload_nodes._delete_namespace(host, "shop", "dep/web_1", [], 60, ControlPlane)
    assert host.scripts == [] and host.logged == ["namespace shop (made by this workload) still holds endpoints/web: "
                                                  "left as it is"]
