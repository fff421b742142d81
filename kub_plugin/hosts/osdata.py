"""What differs between the operating systems kub supports, as data."""

# (ID, VERSION_ID) from /etc/os-release -> how to prepare that OS. All are apt-family today.
# containerd_package is the OS's own containerd (cluster.containerd_source: os), containerd_version the version
# line that OS release ships (checked against what the Kubernetes minor supports).
SUPPORTED_OS = {
    ("debian", "12"): {"family": "apt", "containerd_package": "containerd", "containerd_version": "1.6"},
    ("debian", "13"): {"family": "apt", "containerd_package": "containerd", "containerd_version": "1.7"},
    ("ubuntu", "22.04"): {"family": "apt", "containerd_package": "containerd", "containerd_version": "1.7"},
    ("ubuntu", "24.04"): {"family": "apt", "containerd_package": "containerd", "containerd_version": "1.7"},
}

# `uname -m` -> the architecture name the package repository and containerd's releases use
SUPPORTED_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}

# what delete falls back to on a host whose OS kub no longer recognises
FALLBACK_PROFILE = {"family": "apt", "containerd_package": "containerd", "containerd_version": ""}


def supported_names():
    return ", ".join(f"{name.capitalize()} {version}" for name, version in SUPPORTED_OS)


def os_profile(facts):
    """The profile of a host's OS, or None where kub does not support it."""
    return SUPPORTED_OS.get((facts.os_id, facts.os_version))
