"""The stand-in kubeadm's `upgrade plan`, `upgrade apply` and `upgrade node` on a 1.35 cluster of two lab hosts
(made as the kubeadm docs do: tests/lab/kubeadm_cluster.py), upgraded to 1.36 as the kubeadm upgrade docs say,
with the real kubectl reading the result; and the disruption controller's PodDisruptionBudget status.
Hosts 1-2 are wiped at the end."""
import base64
import json

import pytest
from kubeadm_cluster import ADMIN, kubeadm_cluster, ok, run, wait_for

from kub_lab import repo
from kub_lab.registry import IMAGE_NAMES

pytestmark = pytest.mark.lab

OLD, NEW = "1.35", "1.36"
KUBECTL = ADMIN + "kubectl "
APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: %s}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
""" % IMAGE_NAMES["web"]


def newest(minor):
    return repo.kubernetes_versions(minor)[-1]


def switch_repository(lab, i, minor, packages):
    """The kubeadm docs' "changing the package repository", then the packages of the minor's newest patch."""
    url = lab.package_repository_url.replace("{version}", minor)
    want = " ".join("%s=%s-*" % (p, newest(minor)) for p in packages)
    ok(lab, i, f"""set -e
sed -i 's|deb \\[\\(.*\\)\\] .* /|deb [\\1] {url} /|' /etc/apt/sources.list.d/kubernetes.list
apt-get update -q >/dev/null
apt-mark unhold {" ".join(packages)} >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades {want} >/dev/null 2>&1
apt-mark hold {" ".join(packages)} >/dev/null""", timeout=300)


def standin_kubeadm(lab, i, version, tmp_path):
    """The stand-in built as `version`, as /root/k{version}/kubeadm (it picks its program by that name)."""
    path = tmp_path / f"kube-{version}"
    repo._zipapp(path, version, {}, version.rsplit(".", 1)[0] + ".0")
    lab.exec(i, ["sh", "-c", f"mkdir -p /root/k{version} && base64 -d > /root/k{version}/kubeadm && "
                 f"chmod 755 /root/k{version}/kubeadm"], input=base64.b64encode(path.read_bytes()).decode())
    return f"/root/k{version}/kubeadm"


def server_version(lab):
    return json.loads(ok(lab, 1, KUBECTL + "version -o json"))["serverVersion"]["gitVersion"]


def kubelet_versions(lab):
    nodes = json.loads(ok(lab, 1, KUBECTL + "get nodes -o json"))["items"]
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}


def cluster_config(lab):
    return ok(lab, 1, KUBECTL + "get configmap -n kube-system kubeadm-config -o jsonpath={.data.ClusterConfiguration}")


@pytest.fixture(scope="module")
def cluster(lab):
    with kubeadm_cluster(lab, [1, 2], OLD):
        yield lab


def test_budget_status_follows_the_pods(cluster):
    lab = cluster
    lab.exec(1, ["bash", "-c", KUBECTL + "apply -f -"], input=APP, timeout=60)
    ok(lab, 1, KUBECTL + "wait --for=condition=Available deployment/web --timeout=60s", timeout=90)

    def status():
        st = json.loads(ok(lab, 1, KUBECTL + "get pdb web -o json")).get("status") or {}
        return st if st.get("currentHealthy") == 2 else None
    st = wait_for(status, 30)
    assert st and (st["disruptionsAllowed"], st["desiredHealthy"], st["expectedPods"]) == (1, 1, 2), st
    assert st["conditions"][0]["type"] == "DisruptionAllowed" and st["conditions"][0]["status"] == "True"
    ok(lab, 1, KUBECTL + "scale deployment web --replicas=1")
    st = wait_for(lambda: (lambda s: s if s.get("expectedPods") == 1 else None)(
        json.loads(ok(lab, 1, KUBECTL + "get pdb web -o json")).get("status") or {}), 30)
    assert st and st["disruptionsAllowed"] == 0 and st["conditions"][0]["reason"] == "InsufficientPods", st
    ok(lab, 1, KUBECTL + "scale deployment web --replicas=2")


def test_apply_needs_kubeadm_of_the_target(cluster):
    lab = cluster
    p = run(lab, 1, f"kubeadm upgrade apply v{newest(NEW)} -y")
    assert p.returncode == 1
    assert ('Specified version to upgrade to "v%s" is at least one minor release higher than the kubeadm minor '
            'release (36 > 35). Such an upgrade is not supported' % newest(NEW)) in p.stderr
    assert "error execution phase preflight: the version argument is invalid due to these fatal errors" in p.stderr
    assert server_version(lab) == "v" + newest(OLD)


def test_apply_refuses_skipping_a_minor(cluster, tmp_path):
    lab = cluster
    kubeadm = standin_kubeadm(lab, 1, "1.37.0", tmp_path)
    p = run(lab, 1, f"{kubeadm} upgrade apply v1.37.0 -y")
    assert p.returncode == 1
    assert ('\t- Specified version to upgrade to "v1.37.0" is too high; kubeadm can upgrade only 1 minor version at '
            'a time\n') in p.stderr
    assert "Please fix the misalignments highlighted above and try upgrading again" in p.stderr
    assert "v" + newest(OLD) in cluster_config(lab)


def test_plan_then_apply_then_node(cluster):
    lab = cluster
    target = "v" + newest(NEW)
    switch_repository(lab, 1, NEW, ["kubeadm"])
    plan = ok(lab, 1, "kubeadm upgrade plan")
    assert "[upgrade/versions] Cluster version: v%s" % newest(OLD) in plan
    assert "kubeadm upgrade apply %s" % target in plan
    # without -y it asks, and a "no" changes nothing
    p = lab.exec(1, ["kubeadm", "upgrade", "apply", target], input="n\n", check=False, timeout=60)
    assert p.returncode == 1 and "won't proceed; the user didn't answer (Y|y) in order to continue" in p.stderr
    out = ok(lab, 1, f"kubeadm upgrade apply {target} -y", timeout=400)
    assert f'[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "{target}".' in out
    assert server_version(lab) == target
    assert f"kubernetesVersion: {target}" in cluster_config(lab)
    assert ok(lab, 1, "ls /etc/kubernetes/tmp/kubeadm-backup-manifests-*/kube-apiserver.yaml").strip()
    # the kubelets still run the old minor until their packages are upgraded
    assert set(kubelet_versions(lab).values()) == {"v" + newest(OLD)}
    # a downgrade to the minor before is refused by this kubeadm (skippable only with --force)
    p = run(lab, 1, f"kubeadm upgrade apply v{newest(OLD)} -y")
    assert p.returncode == 1 and "Kubeadm version %s can only be used to upgrade to Kubernetes version 1.36" % target \
        in p.stderr and "Can be bypassed if you pass the --force flag" in p.stderr
    switch_repository(lab, 1, NEW, ["kubelet", "kubectl"])
    ok(lab, 1, "systemctl daemon-reload && systemctl restart kubelet")
    # the worker: kubeadm, `kubeadm upgrade node`, then its kubelet
    switch_repository(lab, 2, NEW, ["kubeadm"])
    ok(lab, 2, "echo 'garbage: 1' >> /var/lib/kubelet/config.yaml")
    out = ok(lab, 2, "kubeadm upgrade node", timeout=120)
    assert "[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!" in out
    assert "garbage" not in ok(lab, 2, "cat /var/lib/kubelet/config.yaml")
    assert "garbage" in ok(lab, 2, "cat /etc/kubernetes/tmp/kubeadm-kubelet-config-*/config.yaml")
    switch_repository(lab, 2, NEW, ["kubelet", "kubectl"])
    ok(lab, 2, "systemctl daemon-reload && systemctl restart kubelet")
    assert wait_for(lambda: set(kubelet_versions(lab).values()) == {target}, 60), kubelet_versions(lab)
    ok(lab, 1, KUBECTL + "wait --for=condition=Ready nodes --all --timeout=60s", timeout=90)
