"""The examples (examples/*.yaml) as a lab user runs them: the inputs `kub-lab inputs` prints, the real cfy CLI.

app-on-new-cluster.yaml makes a cluster (host 1 the master, host 2 a minion) with the web app on it.
app-on-existing-cluster.yaml puts the same app on a cluster kub did not install (hosts 3 and 4, made with kubeadm
as its docs say) and must leave that cluster, its other objects and its hosts' files exactly as they were;
app-on-cluster-by-kubeconfig.yaml does the same through the cluster's kubeconfig alone, without SSH.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import WEB_IMAGE, files_changed, host_files

from kub_lab.cfy import PROJECT, LocalCfy

# the kubeadm cluster the lab tests build by hand
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from kubeadm_cluster import kubeadm_cluster, ready, wait_for  # noqa: E402

pytestmark = pytest.mark.lab
EXAMPLES = PROJECT / "examples"
NEW = (1, 2)
FOREIGN = (3, 4)
# the tests' own kubectl keeps no cache either, so that host_files sees only what kub did
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf --cache-dir /dev/null "
NODE_PORTS = range(30000, 32768)   # the API server's default service-node-port-range


def example(tmp_path_factory, name, blueprint_id):
    cfy = LocalCfy(tmp_path_factory.mktemp(blueprint_id), blueprint_id=blueprint_id, blueprint=EXAMPLES / name)
    cfy.stage([EXAMPLES / "web.yaml"])
    return cfy


def kubectl_json(lab, i, args):
    return json.loads(lab.exec(i, KUBECTL + args + " -o json").stdout)


def instance(cfy, node_id):
    return next(i for i in cfy.node_instances() if i["node_id"] == node_id)


def assert_web_app(lab, i, cfy):
    """The app is there, made by the example's web node, and its node port is the deployment's output."""
    web = kubectl_json(lab, i, "get deployment web -n hello")
    service = kubectl_json(lab, i, "get service web -n hello")
    assert web["status"]["readyReplicas"] == 2
    for made in (web, service):
        assert made["metadata"]["annotations"]["kub/workload"].startswith(f"{cfy.blueprint_id}/web_")
    port = cfy.outputs()["web_node_port"]
    assert port == service["spec"]["ports"][0]["nodePort"] and port in NODE_PORTS


# -- a new cluster with the app -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def new_cluster(lab, tmp_path_factory):
    cfy = example(tmp_path_factory, "app-on-new-cluster.yaml", "app")
    # the lab's inputs as printed, with one minion of the lab's four (cheaper)
    cfy.init({**lab.inputs(examples=True), "minion_ips": [lab.host_ip(NEW[1])]})
    yield cfy
    for i in NEW:
        lab.wipe(i)


def test_app_on_new_cluster_installs_the_cluster_and_the_app(lab, new_cluster):
    new_cluster.install()
    nodes = kubectl_json(lab, NEW[0], "get nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["kubh1", "kubh2"]
    assert_web_app(lab, NEW[0], new_cluster)


def test_app_on_new_cluster_uninstall_leaves_the_hosts_clean(lab, new_cluster):
    new_cluster.uninstall()
    for i in NEW:
        # (kub's record of the packages it installed stays with them, for a later purge)
        state = lab.exec(i, "find /etc/kubernetes /etc/cni/net.d /var/lib/kub /var/lib/etcd -type f "
                            "-not -path '/var/lib/kub/packages/*' 2>/dev/null; systemctl is-active kubelet; "
                            "true").stdout.split()
        assert state == ["inactive"], (i, state)


# -- the app on a cluster kub did not install ---------------------------------------------------------

@pytest.fixture(scope="module")
def foreign(lab):
    """A two-node kubeadm cluster on hosts 3 and 4, with objects of its own in default and in another namespace."""
    with kubeadm_cluster(lab, FOREIGN, lab.inputs()["kubernetes_version"]):
        lab.exec(FOREIGN[0], KUBECTL + "create namespace team && " + KUBECTL + "create deployment api -n team "
                 f"--image={WEB_IMAGE} && " + KUBECTL + "create configmap settings -n default --from-literal=k=v")
        assert wait_for(lambda: all_ready(lab) and rolled_out(lab), 120)
        yield lab


def all_ready(lab):
    return all(ready(node) == "True" for node in kubectl_json(lab, FOREIGN[0], "get nodes")["items"])


def rolled_out(lab):
    """Every Deployment done (its controller has nothing more to write in its status)."""
    return all(d["status"].get("availableReplicas") == d["spec"]["replicas"] and
               any(c.get("reason") == "NewReplicaSetAvailable" for c in d["status"].get("conditions", []))
               for d in kubectl_json(lab, FOREIGN[0], "get deployments -A")["items"])


def existing_inputs(lab, **overrides):
    """The lab's inputs as printed, pointed at the foreign cluster's control plane."""
    return {**lab.inputs(examples=True), "master_ip": lab.host_ip(FOREIGN[0]), **overrides}


def others(lab):
    """The foreign cluster's own objects and nodes: what must stay exactly as it is."""
    found = {f"{o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}":
             (o["metadata"]["uid"], o["metadata"]["resourceVersion"])
             for o in kubectl_json(lab, FOREIGN[0], "get deployments,configmaps,services -A")["items"]}
    nodes = {n["metadata"]["name"]: n["metadata"]["uid"] for n in kubectl_json(lab, FOREIGN[0], "get nodes")["items"]}
    return found, nodes


def installed_on_foreign(lab, cfy):
    """Installs an example on the foreign cluster and checks its app: (cfy's output, what was there before: the
    cluster's objects, its nodes and its hosts' files; the control-plane host's address, the server's version,
    the runtime properties of the example's cluster node)."""
    objects, nodes = others(lab)
    files = {i: host_files(lab, i) for i in FOREIGN}
    out = cfy.install().stdout
    assert_web_app(lab, FOREIGN[0], cfy)
    version = kubectl_json(lab, FOREIGN[0], "version")["serverVersion"]["gitVersion"]
    return (out, (objects, nodes, files), lab.host_ip(FOREIGN[0]), version,
            instance(cfy, "cluster")["runtime_properties"])


def test_a_kubeconfig_path_that_is_not_there_is_refused_and_nothing_changes(lab, foreign, tmp_path_factory):
    cfy = example(tmp_path_factory, "app-on-existing-cluster.yaml", "missing")
    cfy.init(existing_inputs(lab, kubeconfig_path="/etc/kubernetes/missing.conf"))
    before = {i: host_files(lab, i) for i in FOREIGN}
    result = cfy.install(check=False)
    assert result.returncode != 0
    ip = lab.host_ip(FOREIGN[0])
    assert (f"{ip}: kubeconfig_path /etc/kubernetes/missing.conf is not a file on this host: set kubeconfig_path to "
            f"the cluster's admin kubeconfig there (kubeadm writes /etc/kubernetes/admin.conf)") in result.stdout, \
        result.stdout[-3000:]
    assert files_changed(lab, FOREIGN, before) == {}


def test_app_on_existing_cluster_leaves_the_cluster_and_its_hosts_as_they_were(lab, foreign, tmp_path_factory):
    cfy = example(tmp_path_factory, "app-on-existing-cluster.yaml", "existing")
    cfy.init(existing_inputs(lab))
    out, (objects, nodes, files), ip, version, props = installed_on_foreign(lab, cfy)
    # what the cluster node read and recorded: the API's URL, its version, the nodes
    assert props["api_endpoint"] == f"https://{ip}:6443"
    assert props["kubernetes_version"] == version
    assert props["node_names"] == sorted(nodes) == ["kubh3", "kubh4"]
    assert props["nodes_ready"] == {"kubh3": True, "kubh4": True}
    outputs = cfy.outputs()
    assert (outputs["api_endpoint"], outputs["kubernetes_version"], outputs["node_names"]) == \
        (props["api_endpoint"], version, ["kubh3", "kubh4"])
    assert f"[{ip}] cluster at https://{ip}:6443: Kubernetes {version}, nodes kubh3 (Ready), kubh4 (Ready)" in out
    # the kubeconfig's credentials are nowhere in cfy's output or state
    key = lab.exec(FOREIGN[0], "sed -n 's/^ *client-key-data: //p' /etc/kubernetes/admin.conf").stdout.strip()
    assert len(key) > 100 and key not in out and key not in json.dumps(cfy.node_instances())
    # check_status reads it again
    status = cfy.execute("execute_operation", {"operation": "cloudify.interfaces.validation.check_status",
                                               "node_ids": ["cluster"]}).stdout
    assert f"[{ip}] API at https://{ip}:6443 answers, Kubernetes {version}; Ready: kubh3, kubh4" in status

    # the kub_* workflows act on it too (and, as the file check below shows, leave nothing on its hosts)
    cfy.execute("kub_run", {"name": "extra", "image": WEB_IMAGE})
    assert kubectl_json(lab, FOREIGN[0], "get deployment extra -n default")["spec"]["replicas"] == 1
    cfy.execute("kub_scale", {"name": "extra", "replicas": 2})
    assert kubectl_json(lab, FOREIGN[0], "get deployment extra -n default")["status"]["readyReplicas"] == 2
    cfy.execute("kub_delete", {"kind": "deployment", "name": "extra"})
    assert lab.exec(FOREIGN[0], KUBECTL + "get deployment extra --ignore-not-found -o name").stdout == ""

    out = cfy.uninstall().stdout
    assert "cluster cluster: kub did not install it and leaves it as it is" in out
    # the app is gone, with the namespace it made
    assert lab.exec(FOREIGN[0], KUBECTL + "get namespace hello --ignore-not-found -o name").stdout == ""
    # the cluster runs on, its own objects and nodes untouched
    now = others(lab)
    assert now[1] == nodes
    assert {k: v for k, v in now[0].items() if objects.get(k) != v} == {} and set(now[0]) == set(objects)
    assert all_ready(lab)
    # and its hosts' files are exactly as before: no /var/lib/kub, no lock, no kubectl cache, nothing
    assert files_changed(lab, FOREIGN, files) == {}


# -- the app on a cluster known by its kubeconfig alone -----------------------------------------------

def admin_kubeconfig(lab):
    return lab.exec(FOREIGN[0], "cat /etc/kubernetes/admin.conf").stdout


def by_kubeconfig(tmp_path_factory, blueprint_id):
    """The kubeconfig example, with a kub folder of its own on this machine (the kubectl kept, locks, private
    folders)."""
    cfy = example(tmp_path_factory, "app-on-cluster-by-kubeconfig.yaml", blueprint_id)
    cfy.env["KUB_LOCAL_DIR"] = str(cfy.workdir / "kub")
    return cfy


def test_a_kubeconfig_whose_server_does_not_answer_is_one_line(lab, foreign, tmp_path_factory):
    cfy = by_kubeconfig(tmp_path_factory, "nowhere")
    ip = lab.host_ip(FOREIGN[0])
    path = cfy.workdir / "nowhere.conf"
    path.write_text(admin_kubeconfig(lab).replace(f"https://{ip}:6443", f"https://{ip}:6444"))
    cfy.init(lab.kubeconfig_inputs(path))   # what `kub-lab inputs --kubeconfig FILE` prints
    result = cfy.install(check=False)
    assert result.returncode != 0
    assert (f"https://{ip}:6444: the API server does not answer kubectl on the machine running cfy through "
            f"kubeconfig_file {path} (The connection to the server {ip}:6444 was refused - did you specify the right "
            f"host or port?): check that the cluster runs, that this machine reaches https://{ip}:6444, and that the "
            f"kubeconfig's credentials are valid") in result.stdout, result.stdout[-3000:]
    assert os.listdir(cfy.workdir / "kub" / "run") == []


def test_app_on_a_cluster_known_by_its_kubeconfig_alone(lab, foreign, tmp_path_factory):
    """No SSH: the upstream kubectl of the cluster's release runs here, with the kubeconfig given as text."""
    cfy = by_kubeconfig(tmp_path_factory, "bykubeconfig")
    kubeconfig = admin_kubeconfig(lab)
    cfy.init({"kubeconfig": kubeconfig, "kubectl_url": lab.kubectl_url, "allow_plain_http": True,
              "web_image": WEB_IMAGE})
    out, (objects, nodes, files), ip, version, props = installed_on_foreign(lab, cfy)
    assert (props["api_endpoint"], props["kubernetes_version"], props["node_names"]) == \
        (f"https://{ip}:6443", version, ["kubh3", "kubh4"])
    assert f"[https://{ip}:6443] cluster at https://{ip}:6443: Kubernetes {version}, nodes kubh3 (Ready), " \
           f"kubh4 (Ready)" in out
    # the real kubectl of the server's own release, downloaded from the lab's dl.k8s.io, checked, kept here
    kept = cfy.workdir / "kub" / "kubectl" / f"{version}-amd64" / "kubectl"
    client = json.loads(subprocess.run([kept, "version", "--client", "-o", "json"], capture_output=True,
                                       text=True, check=True).stdout)["clientVersion"]
    assert client["gitVersion"] == version and client["gitTreeState"] == "clean"
    assert f"kubectl {version} (linux/amd64): downloaded from {lab.service_url}/dl.k8s.io/release/{version}/" in out

    # the kubectl workflows, check_status, and a workflow that needs the cluster's hosts, refused
    cfy.execute("kub_scale", {"name": "web", "replicas": 3, "namespace": "hello"})
    assert kubectl_json(lab, FOREIGN[0], "get deployment web -n hello")["status"]["readyReplicas"] == 3
    cfy.execute("kub_run", {"name": "extra", "image": WEB_IMAGE})
    cfy.execute("kub_expose", {"name": "extra", "port": 80})
    assert kubectl_json(lab, FOREIGN[0], "get service extra -n default")["spec"]["ports"][0]["port"] == 80
    cfy.execute("kub_apply", {"manifest": "{apiVersion: v1, kind: ConfigMap, metadata: {name: colours}, "
                                          "data: {sky: blue}}"})
    assert kubectl_json(lab, FOREIGN[0], "get configmap colours -n default")["data"] == {"sky": "blue"}
    for kind, name in (("service", "extra"), ("deployment", "extra"), ("configmap", "colours")):
        cfy.execute("kub_delete", {"kind": kind, "name": name})
        assert lab.exec(FOREIGN[0], KUBECTL + f"get {kind} {name} --ignore-not-found -o name").stdout == ""
    status = cfy.execute("execute_operation", {"operation": "cloudify.interfaces.validation.check_status",
                                               "node_ids": ["cluster"]}).stdout
    assert f"[https://{ip}:6443] API at https://{ip}:6443 answers, Kubernetes {version}; Ready: kubh3, kubh4" in status
    # drift: the cluster's (none), and the workload's (the API server's dry run of applying it again)
    drift = cfy.execute("execute_operation", {"operation": "cloudify.interfaces.lifecycle.check_drift",
                                              "node_ids": ["cluster", "web"]}).stdout
    assert f"[https://{ip}:6443] no drift: API at https://{ip}:6443, Kubernetes {version}" in drift
    assert "drift: Deployment hello/web: spec.replicas applied 2, live 3" in drift
    upgrade = cfy.execute("kub_upgrade", {"kubernetes_version": "1.37"}, check=False)
    assert upgrade.returncode != 0 and (
        "kub_upgrade: node cluster is a kub.nodes.ExistingCluster, a cluster kub did not install: kub does not work "
        "on its hosts, which kub_upgrade needs; the kubectl workflows (kub_apply, kub_scale, kub_drain, ...) act on "
        "it") in upgrade.stdout

    uninstall = cfy.uninstall().stdout
    assert lab.exec(FOREIGN[0], KUBECTL + "get namespace hello --ignore-not-found -o name").stdout == ""
    now = others(lab)
    assert now[1] == nodes
    assert {k: v for k, v in now[0].items() if objects.get(k) != v} == {} and set(now[0]) == set(objects)
    assert all_ready(lab) and files_changed(lab, FOREIGN, files) == {}
    # the kubeconfig is nowhere in cfy's output or the deployment's runtime properties, nor left on this machine
    key = lab.exec(FOREIGN[0], "sed -n 's/^ *client-key-data: //p' /etc/kubernetes/admin.conf").stdout.strip()
    said = out + status + drift + upgrade.stdout + uninstall
    assert len(key) > 100 and key not in said and key not in json.dumps(cfy.node_instances())
    assert os.listdir(cfy.workdir / "kub" / "run") == []
