"""What differs between the operating systems kub supports, as data."""

# (ID, VERSION_ID) from /etc/os-release -> how to prepare that OS. All are apt-family today.
SUPPORTED_OS = {
    ("debian", "12"): {"family": "apt", "containerd_package": "containerd"},
    ("ubuntu", "22.04"): {"family": "apt", "containerd_package": "containerd"},
    ("ubuntu", "24.04"): {"family": "apt", "containerd_package": "containerd"},
}

# `uname -m` -> the architecture name the package repository uses
SUPPORTED_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}

# what delete falls back to on a host whose OS kub no longer recognises
FALLBACK_PROFILE = {"family": "apt", "containerd_package": "containerd"}


def supported_names():
    return ", ".join(f"{name.capitalize()} {version}" for name, version in SUPPORTED_OS)


def os_profile(facts):
    """The profile of a host's OS, or None where kub does not support it."""
    return SUPPORTED_OS.get((facts.os_id, facts.os_version))
