"""What differs between the operating systems kub supports, as data."""

# (ID, VERSION_ID) from /etc/os-release -> how to prepare that OS. All are apt-family today.
SUPPORTED_OS = {
    ("debian", "12"): {"family": "apt", "containerd_package": "containerd"},
    ("ubuntu", "22.04"): {"family": "apt", "containerd_package": "containerd"},
    ("ubuntu", "24.04"): {"family": "apt", "containerd_package": "containerd"},
}

# `uname -m` -> the architecture name the package repository uses
SUPPORTED_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}

KUBERNETES_PACKAGES = ("kubelet", "kubeadm", "kubectl")
# what the Kubernetes packages pull in and a purge removes too
KUBERNETES_DEPENDENCIES = ("cri-tools", "kubernetes-cni")

# Ports each role needs free (kubeadm's preflight list)
REQUIRED_PORTS = {
    "master": (6443, 2379, 2380, 10250, 10257, 10259),
    "minion": (10250,),
}


def supported_names():
    return ", ".join(f"{name.capitalize()} {version}" for name, version in SUPPORTED_OS)


def os_profile(facts):
    """The profile of a host's OS, or None where kub does not support it."""
    return SUPPORTED_OS.get((facts.os_id, facts.os_version))
