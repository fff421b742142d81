"""A kubeadm cluster on lab hosts, made the way a person following the kubeadm docs would: containerd from
Debian, kubelet/kubeadm/kubectl from the lab's pkgs.k8s.io-shaped repository, `kubeadm init`, `kubeadm join`,
then the lab CNI manifest applied with kubectl."""
import concurrent.futures
import contextlib
import json
import time

from kub_lab import repo

ADMIN = "KUBECONFIG=/etc/kubernetes/admin.conf "

SETUP = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q containerd curl >/dev/null 2>&1
mkdir -p /etc/containerd
containerd config default > /etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
systemctl restart containerd
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/k8s.conf
sysctl -q -w net.ipv4.ip_forward=1
mkdir -p -m 755 /etc/apt/keyrings
curl -fsSL "{repo}Release.key" -o /etc/apt/keyrings/kubernetes-apt-keyring.asc
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] {repo} /" > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q >/dev/null
apt-get install -y -q kubelet kubeadm kubectl >/dev/null 2>&1
apt-mark hold kubelet kubeadm kubectl >/dev/null
"""


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
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def join_command(lab, master=1):
    return ok(lab, master, "kubeadm token create --print-join-command").strip()


@contextlib.contextmanager
def kubeadm_cluster(lab, hosts, minor):
    """hosts[0] runs `kubeadm init`, the others join; every host is wiped when the block ends."""
    master, workers = hosts[0], hosts[1:]
    url = lab.package_repository_url.replace("{version}", minor)
    try:
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(lambda i: ok(lab, i, SETUP.replace("{repo}", url), timeout=300), hosts))
        ok(lab, master, "kubeadm init --pod-network-cidr=10.244.0.0/16", timeout=300)
        for i in workers:
            ok(lab, i, join_command(lab, master), timeout=300)
        with open(repo.CNI_MANIFEST) as f:
            lab.exec(master, ["bash", "-c", ADMIN + "kubectl apply -f -"], input=f.read(), timeout=60)
        yield lab
    finally:
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(lab.wipe, hosts))
