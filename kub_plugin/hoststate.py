"""Every piece of host state kub owns, named once. The scripts receive these as environment (SCRIPT_ENV)."""
from .config import API_PORT

KUB_DIR = "/var/lib/kub"
# the cluster that owns the host, `<cluster id> <deployment>/<master node>`: written before kub's first change
# there, checked before any reset
OWNER_FILE = f"{KUB_DIR}/owner"
# the settings a host was initialised or joined with (key=value lines), compared with later runs; written last by
# init.sh, so on a master it also says that kub's init finished
RECORD_FILE = f"{KUB_DIR}/cluster.env"
# held (flock) by every changing step, so two kub runs never work on one host at the same time
LOCK_FILE = f"{KUB_DIR}/lock"
LOCK_WAIT_SECONDS = 30
# a reset of the master may have to wait for the minions' drains of the same uninstall (Cloudify runs both)
RESET_LOCK_WAIT_SECONDS = 300
LOCK_BUSY_EXIT = 75
CNI_MANIFEST = f"{KUB_DIR}/cni.yaml"
# containerd from its release: what kub installed (version and checksums) and which files, for a purge
CONTAINERD_RECORD = f"{KUB_DIR}/containerd-release"
CONTAINERD_FILES = f"{KUB_DIR}/containerd-release.files"
CONTAINERD_STAGING = f"{KUB_DIR}/staging"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
CA_CERT = "/etc/kubernetes/pki/ca.crt"

KUBERNETES_PACKAGES = ("kubelet", "kubeadm", "kubectl")
# what the Kubernetes packages pull in: installed at the repository's newest version on every host, so a
# cluster's hosts end up alike, and purged with the rest
KUBERNETES_DEPENDENCIES = ("cri-tools", "kubernetes-cni")

# Ports each role needs free (kubeadm's preflight list)
REQUIRED_PORTS = {
    "master": (API_PORT, 2379, 2380, 10250, 10257, 10259),
    "minion": (10250,),
}

SCRIPT_ENV = {
    "KUB_DIR": KUB_DIR,
    "KUB_OWNER_FILE": OWNER_FILE,
    "KUB_RECORD_FILE": RECORD_FILE,
    "KUB_CNI_MANIFEST": CNI_MANIFEST,
    "KUB_CONTAINERD_RECORD": CONTAINERD_RECORD,
    "KUB_CONTAINERD_FILES": CONTAINERD_FILES,
    "KUB_STAGING": CONTAINERD_STAGING,
    "KUB_PACKAGES": " ".join(KUBERNETES_PACKAGES),
    "KUB_DEPENDENCIES": " ".join(KUBERNETES_DEPENDENCIES),
}
