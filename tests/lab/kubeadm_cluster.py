"""A kubeadm cluster on lab hosts, made the way a person following the kubeadm docs would: containerd (Debian's,
or from 1.35 on containerd 2 from its release files), kubelet/kubeadm/kubectl from the lab's pkgs.k8s.io-shaped
repository, `kubeadm init`, `kubeadm join`, then the lab CNI manifest applied with kubectl."""
import concurrent.futures
import contextlib
import json
import os
import shlex
import sys

from kub_lab import repo, system
from kub_plugin.cluster import registries

sys.path.insert(0, str(repo.STANDINS))
from kube.common import ETCD_VERSION  # noqa: E402

ADMIN = "KUBECONFIG=/etc/kubernetes/admin.conf "
# the etcd image as the kubelet pulled it, and its etcdctl with kubeadm's healthcheck client certificate
ETCD_IMAGE = "/var/lib/containerd/io.containerd.content.v1.standin/registry.k8s.io/etcd/" + ETCD_VERSION
ETCDCTL = (ETCD_IMAGE + "/etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
           "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
           "--key /etc/kubernetes/pki/etcd/healthcheck-client.key ")

SETUP = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q curl >/dev/null 2>&1
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/k8s.conf
sysctl -q -w net.ipv4.ip_forward=1
mkdir -p -m 755 /etc/apt/keyrings
curl -fsSL "{repo}Release.key" -o /etc/apt/keyrings/kubernetes-apt-keyring.asc
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] {repo} /" > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q >/dev/null
apt-get install -y -q kubelet kubeadm kubectl >/dev/null 2>&1
apt-mark hold kubelet kubeadm kubectl >/dev/null
"""
# (Debian's runc lowers a pod sandbox's oom_score_adj, which this machine's missing CAP_SYS_RESOURCE forbids: as
# containerd documents for such hosts, its CRI keeps them at its own; the lab's runc release clamps them itself)
CONTAINERD_DEBIAN = r"""
set -e
DEBIAN_FRONTEND=noninteractive apt-get install -y -q containerd >/dev/null 2>&1
mkdir -p /etc/containerd
containerd config default > /etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
{mirrors}
systemctl restart containerd
"""
# containerd 2 as upstream documents it, from the lab's release files (1.36+ needs containerd 2)
CONTAINERD_RELEASE = r"""
set -e
cd /tmp
curl -fsSLO "{containerd_url}" && curl -fsSLO "{containerd_url}.sha256sum"
sha256sum -c "$(basename "{containerd_url}").sha256sum" >/dev/null
tar -C /usr/local -xzf "$(basename "{containerd_url}")"
curl -fsSL "{runc_url}" -o /usr/local/sbin/runc && chmod 755 /usr/local/sbin/runc
mkdir -p /usr/local/lib/systemd/system /etc/containerd
curl -fsSL "{unit_url}" -o /usr/local/lib/systemd/system/containerd.service
containerd config default > /etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
{mirrors}
systemctl daemon-reload
systemctl enable --now containerd >/dev/null 2>&1
"""
# containerd's registry hosts as its docs set them up (config_path, a hosts.toml per registry): the lab's registry
# for registry.k8s.io and docker.io, where the pause image and the tests' images are
MIRRORS = r"""
sed -i '/cri.*\.registry\]$/{{n;s|config_path = .*|config_path = "/etc/containerd/certs.d"|}}' \
  /etc/containerd/config.toml
{files}
"""
# from 1.35 on, what the kubeadm docs ask on a cgroup v1 host (the lab's are): the kubelet told
# failCgroupV1: false, and kubeadm's SystemVerification check let pass
CGROUP_V1_INIT = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  ignorePreflightErrors: [SystemVerification]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking:
  podSubnet: 10.244.0.0/16
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
"""


def mirrors(lab):
    """The script that points containerd's registry.k8s.io and docker.io at the lab's registry."""
    files = registries.hosts_files(lab.inputs()["registry_mirrors"])
    return MIRRORS.format(files="\n".join("mkdir -p %s && printf '%%s' %s > %s" % (
        shlex.quote(os.path.dirname(path)), shlex.quote(text), shlex.quote(path)) for path, text in files.items()))


def containerd_debian(lab):
    """The script that installs Debian's containerd."""
    return CONTAINERD_DEBIAN.replace("{mirrors}", mirrors(lab))


def containerd_release(lab, with_mirrors=True):
    """The script that installs containerd 2 from this lab's release files (and points it at the lab's registry)."""
    inputs = lab.inputs()
    return CONTAINERD_RELEASE.format(
        containerd_url=inputs["containerd_url"].format(version=inputs["containerd_version"], arch="amd64"),
        runc_url=inputs["runc_url"].format(runc_version=inputs["runc_version"], arch="amd64"),
        unit_url=inputs["containerd_unit_url"].format(version=inputs["containerd_version"]),
        mirrors=mirrors(lab) if with_mirrors else "")


def run(lab, i, cmd, timeout=120):
    return lab.exec(i, ["bash", "-c", cmd], check=False, timeout=timeout)


def ok(lab, i, cmd, timeout=120):
    p = run(lab, i, cmd, timeout)
    assert p.returncode == 0, "host %d: %s\nstdout: %s\nstderr: %s" % (i, cmd, p.stdout, p.stderr)
    return p.stdout


def nodes(lab):
    return {n["metadata"]["name"]: n for n in json.loads(ok(lab, 1, ADMIN + "kubectl get nodes -o json"))["items"]}


def ready(node):
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


def wait_for(pred, timeout, interval=1.0):
    return system.wait_until(pred, timeout, interval)


def join_command(lab, master=1):
    return ok(lab, master, "kubeadm token create --print-join-command").strip()


@contextlib.contextmanager
def kubeadm_cluster(lab, hosts, minor):
    """hosts[0] runs `kubeadm init`, the others join; every host is wiped when the block ends."""
    master, workers = hosts[0], hosts[1:]
    url = lab.package_repository_url.replace("{version}", minor)
    current = tuple(int(part) for part in minor.split(".")) >= (1, 35)
    setup = SETUP.replace("{repo}", url) + (containerd_release(lab) if current else containerd_debian(lab))
    try:
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(lambda i: ok(lab, i, setup, timeout=300), hosts))
        if current:
            lab.exec(master, ["sh", "-c", "cat > /root/kubeadm.yaml"], input=CGROUP_V1_INIT)
            ok(lab, master, "kubeadm init --config /root/kubeadm.yaml", timeout=300)
        else:
            ok(lab, master, "kubeadm init --pod-network-cidr=10.244.0.0/16", timeout=300)
        for i in workers:
            skip = " --ignore-preflight-errors=SystemVerification" if current else ""
            ok(lab, i, join_command(lab, master) + skip, timeout=300)
        with open(repo.CNI_MANIFEST) as f:
            lab.exec(master, ["bash", "-c", ADMIN + "kubectl apply -f -"], input=f.read(), timeout=60)
        yield lab
    finally:
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(lab.wipe, hosts))
