"""The stand-ins' per-minor behaviour on real lab hosts (cgroup v1, like every lab host):
- kubeadm 1.35+ fails preflight with SystemVerification unless that check is ignored;
- kubelet 1.35+ exits on cgroup v1 unless its KubeletConfiguration has failCgroupV1: false, which kubeadm init
  takes from --config into the kubelet-config ConfigMap, so joined kubelets get it too;
- kubelet 1.36+ refuses containerd older than 2.0 (1.35 still runs with it).

The hosts get the repository's stand-in packages, then /usr/bin/kubeadm and /usr/bin/kubelet are replaced by
the same stand-in built as 1.35.0 or 1.36.0 (what the repository's packages of those minors hold). Hosts 1 and
2 run containerd 2.1 from the lab's release files, host 3 Debian 12's containerd 1.6. Hosts 1-3 are wiped at
the end.
"""
import base64
import concurrent.futures
import json
import time
from pathlib import Path

import pytest
from kubeadm_cluster import CGROUP_V1_INIT as INIT_CONFIG
from kubeadm_cluster import containerd_debian, containerd_release, ok, run

from kub_lab import repo

pytestmark = pytest.mark.lab

MINOR = "1.31"
ADMIN = "KUBECONFIG=/etc/kubernetes/admin.conf "
STANDINS = Path(__file__).resolve().parents[2] / "lab" / "standins" / "kube"
CGROUP_V1_ERROR = ("[ERROR SystemVerification]: cgroups v1 support is deprecated and will be removed in a future "
                   "release. Please migrate to cgroups v2. To explicitly enable cgroups v1 support for kubelet "
                   "v1.35 or newer, you must set the kubelet configuration option 'FailCgroupV1' to 'false'.")
KUBELET_CGROUP_V1 = ("failed to run Kubelet: kubelet is configured to not run on a host using cgroup v1. cgroup v1 "
                     "support is unsupported and will be removed in a future release")

BASE = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q curl conntrack iptables socat ebtables ethtool >/dev/null 2>&1
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/k8s.conf
sysctl -q -w net.ipv4.ip_forward=1
"""
PACKAGES = r"""
set -e
mkdir -p -m 755 /etc/apt/keyrings
curl -fsSL "{repo}Release.key" -o /etc/apt/keyrings/kubernetes-apt-keyring.asc
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] {repo} /" > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q kubelet kubeadm kubectl >/dev/null 2>&1
"""
KUBELET_CONFIG = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
healthzPort: 10348
port: 10350
{extra}"""


def standin_app(version, tmp_path):
    """The stand-in programs as one executable archive built as `version`, by the repository's own builder."""
    path = tmp_path / f"kube-{version}"
    repo._zipapp(path, version, {}, version.rsplit(".", 1)[0] + ".0")
    return path.read_bytes()


def put_program(lab, i, data, path):
    lab.exec(i, ["sh", "-c", f"base64 -d > {path}.new && chmod 755 {path}.new && mv {path}.new {path}"],
             input=base64.b64encode(data).decode(), timeout=60)


@pytest.fixture(scope="module")
def hosts(lab, tmp_path_factory):
    packages = PACKAGES.replace("{repo}", lab.package_repository_url.replace("{version}", MINOR))
    runtime = {1: containerd_release(lab), 2: containerd_release(lab), 3: containerd_debian(lab)}
    apps = {v: standin_app(v, tmp_path_factory.mktemp("standins")) for v in ("1.35.0", "1.36.0")}

    def setup(i):
        ok(lab, i, BASE, timeout=300)
        ok(lab, i, runtime[i], timeout=300)
        ok(lab, i, packages, timeout=300)
        for v, data in apps.items():
            ok(lab, i, f"mkdir -p /opt/k{v}")
            put_program(lab, i, data, f"/opt/k{v}/kubelet")
        put_program(lab, i, apps["1.35.0"], "/usr/bin/kubeadm")
        put_program(lab, i, apps["1.35.0"], "/usr/bin/kubelet")
    try:
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(setup, (1, 2, 3)))
        yield lab
    finally:
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(lab.wipe, (1, 2, 3)))


def kubelet_once(lab, i, binary, extra="", seconds=6):
    """Run a kubelet by hand (its own ports) with a config; returns (exit status, stderr). 124: still running."""
    lab.exec(i, "cat > /tmp/kubelet-test.yaml", input=KUBELET_CONFIG.format(extra=extra))
    p = run(lab, i, f"timeout {seconds} {binary} --config /tmp/kubelet-test.yaml", timeout=seconds + 30)
    return p.returncode, p.stderr


def test_hosts_are_cgroup_v1_and_run_the_builds(hosts):
    lab = hosts
    for i in (1, 2, 3):
        assert ok(lab, i, "stat -fc %T /sys/fs/cgroup").strip() == "tmpfs"
        assert ok(lab, i, "kubeadm version -o short").strip() == "v1.35.0"
        assert ok(lab, i, "/opt/k1.36.0/kubelet --version").strip() == "Kubernetes v1.36.0"
    assert ok(lab, 1, "containerd --version").split()[2].startswith("2.1.")
    assert ok(lab, 3, "containerd --version").split()[2].startswith("1.6.")


def test_kubelet_1_35_exits_on_cgroup_v1_unless_fail_cgroup_v1_is_false(hosts):
    lab = hosts
    code, err = kubelet_once(lab, 2, "/usr/bin/kubelet")
    assert code == 1 and KUBELET_CGROUP_V1 in err, err
    code, err = kubelet_once(lab, 2, "/usr/bin/kubelet", "failCgroupV1: true\n")
    assert code == 1 and KUBELET_CGROUP_V1 in err, err
    code, err = kubelet_once(lab, 2, "/usr/bin/kubelet", "failCgroupV1: false\n")
    assert code == 124 and "cgroup v1" not in err, err
    assert "kubelet version v1.35.0 started" in err
    code, err = kubelet_once(lab, 2, "/usr/bin/kubelet --fail-cgroupv1=false")
    assert code == 124, err


def test_kubelet_1_36_refuses_containerd_1_and_1_35_runs_with_it(hosts):
    lab = hosts
    code, err = kubelet_once(lab, 3, "/opt/k1.36.0/kubelet", "failCgroupV1: false\n")
    assert code == 1, err
    assert "failed to run Kubelet: container runtime containerd 1.6." in err
    assert "is not supported by Kubernetes v1.36: it needs containerd 2.0 or newer" in err
    code, err = kubelet_once(lab, 3, "/opt/k1.35.0/kubelet", "failCgroupV1: false\n")
    assert code == 124 and "runtime containerd://1.6." in err, err
    code, err = kubelet_once(lab, 2, "/opt/k1.36.0/kubelet", "failCgroupV1: false\n")
    assert code == 124 and "runtime containerd://2.1." in err, err


def test_kubeadm_1_35_preflight_fails_on_cgroup_v1(hosts):
    lab = hosts
    p = run(lab, 1, "kubeadm init --pod-network-cidr=10.244.0.0/16")
    assert p.returncode == 1
    assert CGROUP_V1_ERROR in p.stderr, p.stderr
    assert run(lab, 1, "test -e /etc/kubernetes/admin.conf").returncode == 1


def test_opt_in_init_and_join_carry_fail_cgroup_v1_false(hosts):
    lab = hosts
    lab.exec(1, "cat > /root/kubeadm.yaml", input=INIT_CONFIG)
    p = run(lab, 1, "kubeadm init --config /root/kubeadm.yaml", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "[WARNING SystemVerification]: cgroups v1 support is deprecated" in p.stderr
    assert "failCgroupV1: false" in ok(lab, 1, "cat /var/lib/kubelet/config.yaml")
    cm = json.loads(ok(lab, 1, ADMIN + "kubectl -n kube-system get configmap kubelet-config -o json"))
    assert "failCgroupV1: false" in cm["data"]["kubelet"]
    join = ok(lab, 1, "kubeadm token create --print-join-command").strip()

    p = run(lab, 2, join)
    assert p.returncode == 1 and CGROUP_V1_ERROR in p.stderr, p.stderr
    assert run(lab, 2, "test -e /etc/kubernetes/kubelet.conf").returncode == 1
    ok(lab, 2, join + " --ignore-preflight-errors=SystemVerification", timeout=300)
    assert "failCgroupV1: false" in ok(lab, 2, "cat /var/lib/kubelet/config.yaml")
    assert ok(lab, 2, "systemctl is-active kubelet").strip() == "active"
    with open(repo.CNI_MANIFEST) as f:
        lab.exec(1, ["bash", "-c", ADMIN + "kubectl apply -f -"], input=f.read(), timeout=60)

    def ready():
        items = json.loads(ok(lab, 1, ADMIN + "kubectl get nodes -o json"))["items"]
        return {n["metadata"]["name"] for n in items
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}
    deadline = time.monotonic() + 60
    while ready() != {"kubh1", "kubh2"} and time.monotonic() < deadline:
        time.sleep(2)
    assert ready() == {"kubh1", "kubh2"}
    node = json.loads(ok(lab, 1, ADMIN + "kubectl get node kubh2 -o json"))
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.0"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.1.")
