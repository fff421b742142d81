"""What a Kubernetes minor demands of its host, as the real kubelet and kubeadm of that minor check it.

The minor is the one this build is (kube.version.VERSION, written by the repository builder per package).
- 1.35+: the kubelet refuses a cgroup v1 host unless its configuration has `failCgroupV1: false`
  (the field exists since 1.31, default false; from 1.35 the default is true), and kubeadm's preflight
  reports cgroup v1 as a SystemVerification error.
- 1.36+: the kubelet needs containerd 2.0 or newer.
"""
import re
import subprocess

from kube.version import VERSION

FAIL_CGROUP_V1_FIELD = (1, 31)      # the kubelet reads failCgroupV1 from this minor on
FAIL_CGROUP_V1_DEFAULT = (1, 35)    # ... and it defaults to true from this one
KUBEADM_CGROUP_V1_ERROR = (1, 35)
CONTAINERD_2_REQUIRED = (1, 36)

KUBELET_CGROUP_V1 = ("kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is unsupported "
                     "and will be removed in a future release")
KUBEADM_CGROUP_V1 = ("cgroups v1 support is deprecated and will be removed in a future release. Please migrate to "
                     "cgroups v2. To explicitly enable cgroups v1 support for kubelet v1.35 or newer, you must set "
                     "the kubelet configuration option 'FailCgroupV1' to 'false'. You must also explicitly skip this "
                     "validation. For more information, see "
                     "https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1")


def minor(version=VERSION):
    major, mnr = version.lstrip("v").split(".")[:2]
    return int(major), int(mnr)


def cgroup_fs(path="/sys/fs/cgroup"):
    """The file system type at /sys/fs/cgroup as `stat -f` names it: cgroup2fs (v2) or tmpfs (v1, hybrid)."""
    p = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else ""


def is_cgroup_v1(path="/sys/fs/cgroup"):
    return cgroup_fs(path) != "cgroup2fs"


def kubelet_fails_on_cgroup_v1(config, flag=None, version=VERSION):
    """Whether this kubelet refuses a cgroup v1 host: the --fail-cgroupv1 flag, else the config field, else
    the minor's default."""
    if minor(version) < FAIL_CGROUP_V1_FIELD:
        return False
    if flag is not None:
        return flag
    value = (config or {}).get("failCgroupV1")
    if value is None:
        return minor(version) >= FAIL_CGROUP_V1_DEFAULT
    return value is True or str(value).lower() == "true"


def runtime_too_old(runtime_name, runtime_version, version=VERSION):
    """The kubelet's refusal (one line) of a container runtime this minor does not support, else None."""
    if minor(version) < CONTAINERD_2_REQUIRED or runtime_name != "containerd":
        return None
    m = re.match(r"v?(\d+)\.(\d+)", runtime_version or "")
    if m and int(m.group(1)) >= 2:
        return None
    return ("container runtime containerd %s is not supported by Kubernetes v%d.%d: it needs containerd 2.0 or "
            "newer; upgrade containerd" % (runtime_version, *minor(version)))


def kubeadm_cgroup_v1_error(version=VERSION):
    """kubeadm's SystemVerification message on a cgroup v1 host (an error from 1.35), else None."""
    return KUBEADM_CGROUP_V1 if minor(version) >= KUBEADM_CGROUP_V1_ERROR else None
