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

# containerd's systemd unit (containerd.service at the release's tag), which upstream publishes no sum for: its
# sha256 per range of containerd versions (first, last), read from the containerd repository's tags. kub installs
# the unit only when it has this sum.
CONTAINERD_UNIT_SHA256 = (
    ("1.7.0", "1.7.23", "4576c080ab8a3eec318b4ea9017aba47b929b6de148fa442d78b8b3d21e5479b"),
    ("1.7.24", "1.7.34", "68dc82b2e67ecb77c8ae7f49ce9681380e80977a1f261a8653e535932cf6400d"),
    ("2.0.0", "2.0.11", "12a76c13cad132222d2b3d2025e56212d205d37eca77508dbbfcdf6ababbf70a"),
    ("2.1.0", "2.2.7", "1941362cbaa89dd591b99c32b050d82c583d3cd2e5fa63085d7017457ec5fca8"),
)


def supported():
    return ", ".join(MINORS)


def containerd_range(minor):
    """(lowest, first unsupported) containerd version of a minor, as tuples: ((1, 7), (3,))."""
    low, high = MINORS[minor]["containerd"]
    return as_tuple(low), as_tuple(high)


def containerd_supported(minor, version):
    low, high = containerd_range(minor)
    return low <= as_tuple(version) < high


def minors_for_containerd(version):
    """The supported minors that run on this containerd version (none for containerd 1.6)."""
    return [minor for minor in MINORS if containerd_supported(minor, version)]


def containerd_wanted(minor):
    """'containerd 1.7 or newer' / 'containerd 2.0 or newer': the words for messages."""
    return f"containerd {MINORS[minor]['containerd'][0]} or newer"


def containerd_unit_sha256(version):
    """The sha256 of containerd's unit at release `version`, or None when kub does not know that release."""
    for first, last, sha256 in CONTAINERD_UNIT_SHA256:
        if as_tuple(first) <= as_tuple(version) <= as_tuple(last):
            return sha256
    return None


def containerd_unit_versions():
    """'1.7.0-1.7.34, 2.0.0-2.2.7': the words for messages."""
    ranges = []
    for first, last, _ in CONTAINERD_UNIT_SHA256:
        if ranges and as_tuple(ranges[-1][1]) < as_tuple(first) and _next(ranges[-1][1]) == as_tuple(first):
            ranges[-1][1] = last
        else:
            ranges.append([first, last])
    return ", ".join(f"{first}-{last}" for first, last in ranges)


def _next(version):
    major, minor, patch = as_tuple(version)
    return major, minor, patch + 1


def kubeadm_api(minor):
    return MINORS[minor]["kubeadm_api"]


def cgroup_v1_opt_in(minor):
    """True where the kubelet refuses cgroup v1 hosts unless told failCgroupV1: false."""
    return MINORS[minor]["cgroup_v1"] == "opt-in"


def as_tuple(version):
    """'v2.1.9' -> (2, 1, 9); '1.6.20~ds1' -> (1, 6, 20); '' -> ()."""
    found = re.match(r"v?(\d+(?:\.\d+)*)", version.strip())
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()
