"""Facts shared by kubeadm and kubelet: versions, well-known paths, host facts."""
import os
import socket
import subprocess

from kube.version import BUILD_DATE, GIT_COMMIT, GO_VERSION, VERSION

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
ETCD_VERSION = "3.5.16-0"   # the real etcd the lab serves as this image (kub_lab.releases)
COREDNS_VERSION = "v1.11.3"
# A lab fault, set by a test on a host (never by kub): while this file is there, the control plane's first start
# fails as a real one that never gets healthy does. The kube-apiserver exits at start (the kubelet restarts it),
# and `kubeadm init` gives up its wait-control-plane after the duration the file holds (a Go duration; the real
# kubeadm waits 4m0s) with kubeadm's error, after admin.conf and the rest are written. kubeadm then removes the
# file, so the control plane comes up on its next start and the next init works.
CONTROL_PLANE_FAULT = "/etc/kub-lab/control-plane-fails-once"


def version_info():
    major, minor = VERSION.split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": GIT_VERSION,
            "gitCommit": GIT_COMMIT, "gitTreeState": "clean",
            "buildDate": BUILD_DATE, "goVersion": GO_VERSION, "compiler": "gc",
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
