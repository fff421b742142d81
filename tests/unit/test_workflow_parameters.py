"""The kub_* workflows' parameters, as data: every bad one is a one-line error naming the workflow's cluster node,
the problem and the fix; good ones come out converted."""
from pathlib import Path

import pytest
import yaml

from kub_plugin.cfy import workflow_parameters as parameters
from kub_plugin.errors import ConfigError
from kub_plugin.local import manifests
from kub_plugin.workloads.model import Ref

ROOT = Path(__file__).resolve().parents[2]

BAD = [
    ("kub_apply", {}, "node master (kub_apply): manifest is missing: give it, e.g. -p '{\"manifest\": \"web.yaml\"}'"),
    ("kub_apply", {"manifest": "  "}, "manifest is missing"),
    ("kub_apply", {"manifest": 3}, "node master (kub_apply): manifest 3 must be a path (relative to the blueprint, "
                                   "or absolute), a URL, or YAML"),
    ("kub_apply", {"manifest": "a.yaml", "namespace": "Shop"},
     "node master (kub_apply): namespace 'Shop' is not a namespace name: use lower case letters, digits and '-' "
     "(at most 63): e.g. -p '{\"namespace\": \"shop\"}'"),
    ("kub_apply", {"manifest": "a.yaml", "namespace": "a" * 64}, "is not a namespace name"),
    ("kub_apply", {"manifest": "a.yaml", "dry_run": "yes"},
     "node master (kub_apply): dry_run 'yes' must be true or false: e.g. -p '{\"dry_run\": true}'"),
    ("kub_delete", {}, "node master (kub_delete): give either kind and name"),
    ("kub_delete", {"kind": "deployment"}, "give either kind and name"),
    ("kub_delete", {"name": "web"}, "give either kind and name"),
    ("kub_delete", {"kind": "deployment", "name": "web", "manifest": "a.yaml"}, "not both"),
    ("kub_delete", {"kind": "node", "name": "kubh2"}, "node master (kub_delete): kind 'node' is not a kind kub "
                                                      "deletes: use one of configmap, cronjob, daemonset"),
    ("kub_delete", {"kind": "gadget", "name": "x"}, "kind 'gadget' is not a kind kub deletes"),
    ("kub_delete", {"kind": "service", "name": "Web"}, "node master (kub_delete): name 'Web' is not a Kubernetes "
                                                       "object name"),
    ("kub_run", {"image": "nginx"}, "node master (kub_run): name is missing: give it, e.g. -p '{\"name\": \"web\"}'"),
    ("kub_run", {"name": "1web", "image": "nginx"}, "node master (kub_run): name '1web' is not a name kubectl can "
     "give it: use lower case letters, digits and '-', starting with "
     "a letter (at most 63)"),
    ("kub_run", {"name": "web.x", "image": "nginx"}, "is not a name kubectl can give it"),
    ("kub_run", {"name": "web"}, "node master (kub_run): image is missing"),
    ("kub_run", {"name": "web", "image": "nginx latest"}, "image 'nginx latest' is not a container image reference"),
    ("kub_run", {"name": "web", "image": "nginx", "replicas": -1},
     "node master (kub_run): replicas -1 must be a whole number, 0 or more: e.g. -p '{\"replicas\": 3}'"),
    ("kub_run", {"name": "web", "image": "nginx", "replicas": 1.5}, "replicas 1.5 must be a whole number"),
    ("kub_run", {"name": "web", "image": "nginx", "replicas": "two"}, "replicas 'two' must be a whole number"),
    ("kub_run", {"name": "web", "image": "nginx", "replicas": True}, "replicas True must be a whole number"),
    ("kub_run", {"name": "web", "image": "nginx", "port": 0}, "port 0 must be a port number from 1 to 65535"),
    ("kub_run", {"name": "web", "image": "nginx", "port": 70000}, "port 70000 must be a port number"),
    ("kub_expose", {"name": "web"}, "node master (kub_expose): port is missing"),
    ("kub_expose", {"name": "web", "port": "http"}, "port 'http' must be a port number from 1 to 65535"),
    ("kub_expose", {"name": "web", "port": 80, "target_port": 0}, "target_port 0 must be a port number from 1 to "
     "65535 or a container port's name"),
    ("kub_expose", {"name": "web", "port": 80, "target_port": "Http_1"}, "target_port 'Http_1' must be"),
    ("kub_expose", {"name": "web", "port": 80, "type": "LoadBalancer"},
     "node master (kub_expose): type 'LoadBalancer' is not a Service type kub makes: use ClusterIP or NodePort"),
    ("kub_scale", {"name": "web"}, "node master (kub_scale): replicas is missing"),
    ("kub_scale", {"name": "web", "replicas": -3, "kind": "deployment"}, "replicas -3 must be a whole number"),
    ("kub_scale", {"name": "web", "replicas": 2, "kind": "daemonset"},
     "node master (kub_scale): kind 'daemonset' cannot be scaled here: use deployment or statefulset"),
    ("kub_scale", {"name": "", "replicas": 2, "kind": "deployment"}, "name is missing"),
    ("kub_rollout_restart", {"name": "-web"}, "name '-web' is not a Kubernetes object name"),
    ("kub_drain", {}, "node master (kub_drain): nodes is missing: give it, e.g. -p '{\"nodes\": [\"kubh2\"]}'"),
    ("kub_drain", {"nodes": ["kubh2", "Bad Name"]}, "nodes ['kubh2', 'Bad Name'] must be a list of Kubernetes node "
                                                    "names"),
    ("kub_uncordon", {"nodes": [3]}, "node master (kub_uncordon): nodes [3] must be a list"),
    ("kub_get", {}, "node master (kub_get): kind is missing"),
    ("kub_get", {"kind": "widgets"}, "node master (kub_get): kind 'widgets' is not a kind kub knows: use one of "
                                     "configmap, cronjob"),
    ("kub_get", {"kind": "pod", "name": "a b"}, "name 'a b' is not a Kubernetes object name"),
]


@pytest.mark.parametrize("workflow,params,message", BAD)
def test_bad_parameters_are_one_line_errors(workflow, params, message):
    with pytest.raises(ConfigError) as err:
        parameters.checked(workflow, "master", params)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


GOOD = [
    ("kub_run", {"name": "web", "image": "nginx:1.27", "replicas": "2", "port": 80},
     {"name": "web", "image": "nginx:1.27", "replicas": 2, "port": 80, "namespace": "default", "dry_run": False}),
    ("kub_run", {"name": "web", "image": "registry.example.com:5000/team/web@sha256:abc", "replicas": 0, "port": ""},
     {"name": "web", "image": "registry.example.com:5000/team/web@sha256:abc", "replicas": 0, "port": None,
      "namespace": "default", "dry_run": False}),
    ("kub_expose", {"name": "web", "port": "80", "target_port": "http", "type": "NodePort", "namespace": "shop"},
     {"name": "web", "port": 80, "target_port": "http", "type": "NodePort", "namespace": "shop", "dry_run": False}),
    ("kub_scale", {"name": "db", "replicas": 3, "kind": "StatefulSets"},
     {"name": "db", "replicas": 3, "kind": "statefulset", "namespace": "default", "dry_run": False}),
    ("kub_delete", {"kind": "Services", "name": "web"},
     {"kind": "service", "name": "web", "manifest": None, "namespace": "default", "dry_run": False}),
    ("kub_delete", {"manifest": "web.yaml"}, {"kind": None, "name": None, "manifest": "web.yaml",
                                              "namespace": "default", "dry_run": False}),
    ("kub_drain", {"nodes": "kubh2"}, {"nodes": ["kubh2"], "namespace": "default", "dry_run": False}),
    ("kub_uncordon", {"nodes": ["kubh2", "kubh3", "kubh2"]},
     {"nodes": ["kubh2", "kubh3"], "namespace": "default", "dry_run": False}),
    ("kub_get", {"kind": "node"}, {"kind": "node", "name": None, "namespace": "default"}),
    ("kub_get", {"kind": "configmaps", "name": "kube-root-ca.crt"},
     {"kind": "configmap", "name": "kube-root-ca.crt", "namespace": "default"}),
    ("kub_apply", {"manifest": "web.yaml", "dry_run": "true"},
     {"manifest": "web.yaml", "namespace": "default", "dry_run": True}),
    ("kub_drain", {"nodes": ["kubh2"], "dry_run": True}, {"nodes": ["kubh2"], "namespace": "default", "dry_run": True}),
]


@pytest.mark.parametrize("workflow,params,expected", GOOD)
def test_good_parameters_come_out_converted(workflow, params, expected):
    assert parameters.checked(workflow, "master", params) == expected


def test_every_workflow_in_plugin_yaml_has_its_parameters_checked():
    declared = yaml.safe_load((ROOT / "plugin.yaml").read_text())["workflows"]
    plan = declared.pop("kub_plan")   # the install's plan: every cluster of the deployment, or the one named
    assert plan["mapping"] == "kub.kub_plugin.cfy.workflows.plan"
    assert plan["parameters"] == {"node_id": {"type": "string", "default": "", "description": plan["parameters"][
        "node_id"]["description"]}}
    scaling = {name: declared.pop(name) for name in ("kub_add_minions", "kub_remove_minions", "kub_remove_masters")}
    assert {name: w["mapping"] for name, w in scaling.items()} == {
        "kub_add_minions": "kub.kub_plugin.cfy.scaling.add_minions",
        "kub_remove_minions": "kub.kub_plugin.cfy.scaling.remove_minions",
        "kub_remove_masters": "kub.kub_plugin.cfy.scaling.remove_masters"}
    assert all(w["parameters"]["dry_run"]["default"] is False for w in scaling.values())
    backups = {name: declared.pop(name) for name in ("kub_backup", "kub_restore")}
    assert {name: w["mapping"] for name, w in backups.items()} == {
        "kub_backup": "kub.kub_plugin.cfy.backups.backup", "kub_restore": "kub.kub_plugin.cfy.backups.restore"}
    assert "default" not in backups["kub_backup"]["parameters"]["path"]
    assert backups["kub_restore"]["parameters"]["dry_run"]["default"] is False
    upgrade = declared.pop("kub_upgrade")
    assert upgrade["mapping"] == "kub.kub_plugin.cfy.upgrades.upgrade"
    assert {key: (p["type"], p.get("default")) for key, p in upgrade["parameters"].items()} == {
        "kubernetes_version": ("string", None), "batch_size": ("integer", 1), "drain_timeout": ("integer", 0),
        "containerd_version": ("string", ""), "dry_run": ("boolean", False)}
    assert set(declared) == set(parameters.WORKFLOWS)
    for name, workflow in declared.items():
        assert workflow["mapping"] == f"kub.kub_plugin.cfy.workflows.{name[len('kub_'):]}"
        assert set(workflow["parameters"]) == {"node_id", "namespace", *parameters.WORKFLOWS[name]}
        assert workflow["parameters"]["namespace"]["default"] == parameters.DEFAULT_NAMESPACE
        checks = {"node_id": parameters.Check(None, "", "", required=False), "namespace": parameters.NAMESPACE,
                  **parameters.WORKFLOWS[name]}
        for key, declared in workflow["parameters"].items():
            # cfy checks the type, and refuses a call without a parameter that has no default
            assert declared["type"] == checks[key].type, (name, key)
            given_by_cfy = "default" in declared or declared.get("required") is False
            assert given_by_cfy == (not checks[key].required or key in parameters.DEFAULTS.get(name, {})
                                    or key == "namespace"), (name, key)
        defaults = {key: p["default"] for key, p in workflow["parameters"].items()
                    if key not in ("node_id", "namespace") and p.get("default", "") != ""}
        assert defaults == parameters.DEFAULTS.get(name, {}), name


CLUSTERS = {"master": "kub.nodes.Master", "shared": "kub.nodes.ExistingCluster"}
BAD_NODES = [
    ({"master": "kub.nodes.Master"}, "minions", "kub_get: node_id 'minions' is not a cluster node of this "
                                                "deployment: give one of master (kub.nodes.Master)"),
    (CLUSTERS, "", "kub_get: this deployment has 2 cluster nodes, master (kub.nodes.Master), shared "
                   "(kub.nodes.ExistingCluster): say which one with node_id, e.g. -p '{\"node_id\": \"master\"}'"),
    ({}, "", "kub_get: this deployment has no cluster node: add a kub.nodes.Master or kub.nodes.ExistingCluster"),
    ({}, "master", "node_id 'master' is not a cluster node of this deployment: give one of none"),
]


@pytest.mark.parametrize("clusters,node_id,message", BAD_NODES)
def test_the_cluster_node_must_be_known_and_unambiguous(clusters, node_id, message):
    with pytest.raises(ConfigError) as err:
        parameters.cluster_node("kub_get", clusters, node_id)
    assert message in str(err.value)


@pytest.mark.parametrize("clusters,node_id,expected", [
    ({"master": "kub.nodes.Master"}, "", "master"), (CLUSTERS, "shared", "shared")])
def test_the_cluster_node(clusters, node_id, expected):
    assert parameters.cluster_node("kub_get", clusters, node_id) == expected


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: colours}\ndata: {a: b}\n"


def _read(path):
    files = {"cm.yaml": CONFIGMAP.encode(), "bad.yaml": b"kind: [x\n"}
    if path not in files:
        raise FileNotFoundError(path)
    return files[path]


_files = manifests.Sources(_read, local_mode=True)
MANIFESTS = [
    (CONFIGMAP, [Ref("v1", "ConfigMap", "shop", "colours")]),
    ("cm.yaml", [Ref("v1", "ConfigMap", "shop", "colours")]),
    ("{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: other}}", [Ref("v1", "Secret", "other", "s")]),
    ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}, [Ref("v1", "Namespace", "", "shop")]),
    ([{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}},
      {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}}],
     [Ref("v1", "Service", "shop", "a"), Ref("v1", "Service", "shop", "b")]),
]


@pytest.mark.parametrize("manifest,refs", MANIFESTS)
def test_a_manifest_is_a_path_or_the_yaml_itself(manifest, refs):
    objects = manifests.manifest_objects(manifest, "shop", _files, "master (kub_apply)")
    assert [ref for _, ref in objects] == refs


BAD_MANIFESTS = [
    ("missing.yaml", "node master (kub_apply): manifest missing.yaml not found beside the blueprint: give a path "
                     "relative to the blueprint's folder, an absolute path, or a URL"),
    ("/no/such/file.yaml", "node master (kub_apply): manifest /no/such/file.yaml cannot be read"),
    ("bad.yaml", "node master (kub_apply): manifest bad.yaml is not valid YAML at line 2"),
    ("kind: ConfigMap\n  data: [\n", "node master (kub_apply): manifest (inline) is not valid YAML"),
    ("apiVersion: v1\nkind: ConfigMap\n", "node master (kub_apply): (inline) document 1 (ConfigMap) has no "
                                          "metadata.name"),
    ("---\n---\n", "node master (kub_apply): the manifest holds no object"),
]


ON_A_MANAGER = [
    ("/etc/kub/other.conf", "node master (kub_apply): manifest /etc/kub/other.conf: an absolute path names a file "
                            "of the Cloudify Manager's worker, which a blueprint may not read: give a path relative "
                            "to the blueprint (uploaded with it) or an https URL"),
    ("~/.kube/config", "an absolute path names a file of the Cloudify Manager's worker"),
    ("../other/kubeconfig", "node master (kub_apply): manifest ../other/kubeconfig: a path relative to the "
                            "blueprint may not leave its folder ('..')"),
    ("http://mirror.example/web.yaml", "node master (kub_apply): manifest http://mirror.example/web.yaml: only "
                                       "https:// URLs are fetched (plain http only with allow_plain_http: true"),
    ("file:///etc/passwd", "manifest file:///etc/passwd: only https:// URLs are fetched: give an https URL"),
]


@pytest.mark.parametrize("manifest,message", ON_A_MANAGER)
def test_a_manifest_source_a_blueprint_may_not_name_on_a_manager_is_refused(manifest, message):
    with pytest.raises(ConfigError) as err:
        manifests.manifest_objects(manifest, "default", manifests.Sources(_read, local_mode=False),
                                   "master (kub_apply)")
    assert message in str(err.value)


@pytest.mark.parametrize("manifest,message", BAD_MANIFESTS)
def test_a_manifest_that_cannot_be_had_or_read_is_refused(manifest, message):
    with pytest.raises(ConfigError) as err:
        manifests.manifest_objects(manifest, "default", _files, "master (kub_apply)")
    assert message in str(err.value)
    assert "\n" not in str(err.value)
