"""Every piece of host state kub owns, named once. The scripts receive these as environment (SCRIPT_ENV)."""

# kube-apiserver's port on a control-plane host
API_PORT = 6443

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
CNI_MANIFEST = f"{KUB_DIR}/cni.yaml"
# Files kub wrote, each with its sha256 (sha256sum's lines), so that removal takes only what still holds what kub
# wrote. A file of the host's own that kub had to replace is kept beside it (ORIGINAL_SUFFIX) and put back.
# Those an uninstall removes (kernel settings, the user's kubeconfig, containerd's config):
OWNED_FILES = f"{KUB_DIR}/files.sha256"
# what lives as long as the packages (the apt source and key, containerd's release files), kept
# through an uninstall without purge_packages: the packages kub installed, those it found, and their files
PACKAGES_DIR = f"{KUB_DIR}/packages"
PACKAGE_FILES = f"{PACKAGES_DIR}/files.sha256"
INSTALLED_PACKAGES = f"{PACKAGES_DIR}/installed"
FOUND_PACKAGES = f"{PACKAGES_DIR}/found"
ORIGINAL_SUFFIX = ".kub-orig"
# what /etc/cni/net.d held before kub's first change there (sha256sum's lines): the host's own, never removed
CNI_BEFORE = f"{KUB_DIR}/cni-before.sha256"
# the CNI config files the cluster's CNI wrote, recorded once the node is Ready: the only ones uninstall removes
CNI_FILES = f"{KUB_DIR}/cni.sha256"
# containerd's registry hosts (config_path): kub's hosts.toml files of cluster.registry_mirrors, one folder a registry
CONTAINERD_CERTS_DIR = "/etc/containerd/certs.d"
# containerd from its release: what kub installed (version and checksums)
CONTAINERD_RECORD = f"{KUB_DIR}/containerd-release"
CONTAINERD_STAGING = f"{KUB_DIR}/staging"
# etcd's own tools (kub_backup, kub_restore) and their work: kub's, removed with KUB_DIR at uninstall
ETCD_TOOLS_DIR = f"{KUB_DIR}/etcd"
BACKUP_DIR = f"{KUB_DIR}/backup"
RESTORE_DIR = f"{KUB_DIR}/restore"
ETCD_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
CA_CERT = "/etc/kubernetes/pki/ca.crt"

# kub's load balancer of the API on the masters (api_load_balancer keepalived): its own units and configuration, so
# a haproxy or keepalived of the host's own is left alone
API_HAPROXY_UNIT = "/etc/systemd/system/kub-api-haproxy.service"
API_KEEPALIVED_UNIT = "/etc/systemd/system/kub-api-keepalived.service"
API_BALANCER_DIR = "/etc/kub"
API_BALANCER_PACKAGES = ("haproxy", "keepalived")
# etcd's client, on the masters of a cluster with several: kub removes a lost master's member with it
ETCD_CLIENT_PACKAGES = ("etcd-client",)

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
    "KUB_OWNED_FILES": OWNED_FILES,
    "KUB_PACKAGES_DIR": PACKAGES_DIR,
    "KUB_PACKAGE_FILES": PACKAGE_FILES,
    "KUB_INSTALLED_PACKAGES": INSTALLED_PACKAGES,
    "KUB_FOUND_PACKAGES": FOUND_PACKAGES,
    "KUB_ORIGINAL_SUFFIX": ORIGINAL_SUFFIX,
    "KUB_CNI_BEFORE": CNI_BEFORE,
    "KUB_CNI_FILES": CNI_FILES,
    "KUB_STAGING": CONTAINERD_STAGING,
    "KUB_CONTAINERD_CERTS_DIR": CONTAINERD_CERTS_DIR,
    "KUB_API_HAPROXY_UNIT": API_HAPROXY_UNIT,
    "KUB_API_KEEPALIVED_UNIT": API_KEEPALIVED_UNIT,
    "KUB_API_BALANCER_DIR": API_BALANCER_DIR,
    "KUB_PACKAGES": " ".join(KUBERNETES_PACKAGES),
    "KUB_DEPENDENCIES": " ".join(KUBERNETES_DEPENDENCIES),
}
