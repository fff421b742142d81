"""What each supported Kubernetes minor needs, as data: it drives the checks at create and the tests alike."""
import re

# minor -> what that minor needs of a host and of kub
MINORS = {
    # the last minor that works with containerd 1.x
    "1.35": {"containerd": ("1.7", "3"), "kubeadm_api": "kubeadm.k8s.io/v1beta4", "cgroup_v1": "opt-in"},
    "1.36": {"containerd": ("2.0", "3"), "kubeadm_api": "kubeadm.k8s.io/v1beta4", "cgroup_v1": "opt-in"},
    "1.37": {"containerd": ("2.0", "3"), "kubeadm_api": "kubeadm.k8s.io/v1beta4", "cgroup_v1": "opt-in"},
}
DEFAULT_MINOR = "1.36"


def supported():
    return ", ".join(MINORS)


def containerd_range(minor):
    """(lowest, first unsupported) containerd version of a minor, as tuples: ((1, 7), (3,))."""
    low, high = MINORS[minor]["containerd"]
    return as_tuple(low), as_tuple(high)


def containerd_supported(minor, version):
    low, high = containerd_range(minor)
    return low <= as_tuple(version) < high


def containerd_wanted(minor):
    """'containerd 1.7 or newer' / 'containerd 2.0 or newer': the words for messages."""
    return f"containerd {MINORS[minor]['containerd'][0]} or newer"


def kubeadm_api(minor):
    return MINORS[minor]["kubeadm_api"]


def cgroup_v1_opt_in(minor):
    """True where the kubelet refuses cgroup v1 hosts unless told failCgroupV1: false."""
    return MINORS[minor]["cgroup_v1"] == "opt-in"


def as_tuple(version):
    """'v2.1.9' -> (2, 1, 9); '1.6.20~ds1' -> (1, 6, 20); '' -> ()."""
    found = re.match(r"v?(\d+(?:\.\d+)*)", version.strip())
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()
