"""The stand-ins' per-minor rules (lab/standins/kube/rules.py): which minor refuses cgroup v1, which needs
containerd 2, and the lab's release inputs and Debian version parsing."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab" / "standins"))

from kube import rules  # noqa: E402

from kub_lab import lab as kub_lab_lab  # noqa: E402
from kub_lab import releases


@pytest.mark.parametrize("version, config, flag, fails", [
    ("1.30.6", {}, None, False),                          # no failCgroupV1 before 1.31
    ("1.30.6", {"failCgroupV1": True}, None, False),
    ("1.31.2", {}, None, False),                          # field exists, default false
    ("1.31.2", {"failCgroupV1": True}, None, True),
    ("1.34.3", {}, None, False),
    ("1.35.0", {}, None, True),                           # default true from 1.35
    ("1.35.0", {"failCgroupV1": False}, None, False),
    ("1.35.0", {"failCgroupV1": "false"}, None, False),
    ("1.37.1", {}, None, True),
    ("1.37.1", {"failCgroupV1": False}, True, True),      # the flag wins over the file
    ("1.37.1", {}, False, False),
])
def test_kubelet_cgroup_v1_rule_by_minor(version, config, flag, fails):
    assert rules.kubelet_fails_on_cgroup_v1(config, flag, version=version) is fails


@pytest.mark.parametrize("version, name, runtime, refused", [
    ("1.35.0", "containerd", "1.6.20~ds1", False),        # 1.35: the last minor with containerd 1.x
    ("1.35.0", "containerd", "1.7.24~ds1", False),
    ("1.36.0", "containerd", "1.7.24~ds1", True),
    ("1.36.0", "containerd", "v1.7.28", True),
    ("1.36.0", "containerd", "2.0.0", False),
    ("1.37.1", "containerd", "2.1.9+unknown", False),
    ("1.37.1", "containerd", "v2.1.9", False),
    ("1.37.1", "cri-o", "1.30.0", False),                 # only containerd's version is known here
])
def test_kubelet_containerd_2_rule_by_minor(version, name, runtime, refused):
    message = rules.runtime_too_old(name, runtime, version=version)
    assert (message is not None) is refused
    if refused:
        assert f"containerd {runtime} is not supported" in message and "containerd 2.0 or newer" in message


def test_kubeadm_cgroup_v1_error_from_1_35():
    assert rules.kubeadm_cgroup_v1_error("1.34.3") is None
    message = rules.kubeadm_cgroup_v1_error("1.35.0")
    assert message.startswith("cgroups v1 support is deprecated and will be removed in a future release.")
    assert "set the kubelet configuration option 'FailCgroupV1' to 'false'" in message


@pytest.mark.parametrize("debian, upstream", [
    ("2.1.9+ds1-5", "2.1.9"), ("1.1.5+ds1-1+deb12u1", "1.1.5"), ("1:1.7.24~ds1-6+deb13u1", "1.7.24")])
def test_upstream_version_from_debian_version(debian, upstream):
    assert releases.upstream_version(debian) == upstream


def test_release_paths_are_upstream_shaped():
    assert releases.containerd_paths("2.1.9") == (
        "github.com/containerd/containerd/releases/download/v2.1.9/containerd-2.1.9-linux-amd64.tar.gz",
        "github.com/containerd/containerd/releases/download/v2.1.9/containerd-2.1.9-linux-amd64.tar.gz.sha256sum")
    assert releases.runc_paths("1.1.5") == ("github.com/opencontainers/runc/releases/download/v1.1.5/runc.amd64",
                                            "github.com/opencontainers/runc/releases/download/v1.1.5/runc.sha256sum")
    assert releases.unit_path("2.1.9") == "raw.githubusercontent.com/containerd/containerd/v2.1.9/containerd.service"
    unit = releases.UNIT.read_text()
    for line in ("ExecStartPre=-/sbin/modprobe overlay", "ExecStart=/usr/local/bin/containerd", "Delegate=yes",
                 "KillMode=process", "Type=notify"):
        assert line in unit.splitlines()


def test_release_option_parsing():
    assert kub_lab_lab.parse_releases("trixie") == ("trixie", {})
    assert kub_lab_lab.parse_releases("2=trixie,3=trixie") == ("bookworm", {2: "trixie", 3: "trixie"})
    assert kub_lab_lab.host_release_map(3, "bookworm", {2: "trixie"}) == {1: "bookworm", 2: "trixie", 3: "bookworm"}
    for bad in ("buster", "x=trixie", "2=sid"):
        with pytest.raises(kub_lab_lab.LabError):
            kub_lab_lab.parse_releases(bad)
    with pytest.raises(kub_lab_lab.LabError, match="hosts 1..2"):
        kub_lab_lab.host_release_map(2, "bookworm", {3: "trixie"})
