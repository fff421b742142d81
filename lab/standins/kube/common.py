"""Facts shared by kubeadm and kubelet: versions, well-known paths, host facts."""
import os
import socket
import subprocess

from kube.version import VERSION

GIT_VERSION = "v" + VERSION
KUBERNETES_DIR = "/etc/kubernetes"
PKI_DIR = "/etc/kubernetes/pki"
MANIFESTS_DIR = "/etc/kubernetes/manifests"
KUBELET_DIR = "/var/lib/kubelet"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
KUBELET_FLAGS_ENV = "/var/lib/kubelet/kubeadm-flags.env"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
BOOTSTRAP_KUBELET_CONF = "/etc/kubernetes/bootstrap-kubelet.conf"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
ETCD_DIR = "/var/lib/etcd"
CNI_CONF_DIR = "/etc/cni/net.d"
DEFAULT_CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
STATIC_POD_UNIT_PREFIX = "kubepods-static-"
ETCD_VERSION = "3.5.15-0"
COREDNS_VERSION = "v1.11.3"
GIT_COMMITS = {"1.30.6": "00f20d443ba0cd5d1a7f5a4c1f9a9e3fcbc4b6f4",
               "1.31.1": "948afe5ca072329a73c8e79ed5938717a5cb3d21",
               "1.31.2": "5864a4677267e6adeae276ad85882a8714d69d9d"}


def version_info():
    major, minor = VERSION.split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": GIT_VERSION,
            "gitCommit": GIT_COMMITS.get(VERSION, "0" * 40), "gitTreeState": "clean",
            "buildDate": "2024-10-22T20:28:14Z", "goVersion": "go1.22.8", "compiler": "gc",
            "platform": "linux/%s" % arch()}


def arch():
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def hostname():
    return socket.gethostname().lower()


def default_ip():
    """The address of the interface holding the default route (kubeadm's ChooseHostInterface)."""
    try:
        out = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True).stdout
        dev = out.split(" dev ")[1].split()[0] if " dev " in out else None
        if dev:
            addrs = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", dev], capture_output=True,
                                   text=True).stdout
            for line in addrs.splitlines():
                parts = line.split()
                if "inet" in parts:
                    return parts[parts.index("inet") + 1].split("/")[0]
    except (OSError, IndexError):
        pass
    return None


def normalize_socket(sock):
    if sock and "://" not in sock:
        return "unix://" + sock
    return sock or DEFAULT_CRI_SOCKET


def swap_devices():
    """Lines of /proc/swaps after the header, as the kubelet and kubeadm read it."""
    try:
        with open("/proc/swaps") as f:
            return [line for line in f.read().splitlines()[1:] if line.strip()]
    except OSError:
        return []
