"""The versions table: what each supported minor needs."""
import pytest

from kub_plugin.cluster import versions


def test_every_minor_says_what_it_needs():
    assert list(versions.MINORS) == ["1.35", "1.36", "1.37"] and versions.DEFAULT_MINOR in versions.MINORS
    for needs in versions.MINORS.values():
        assert set(needs) == {"containerd", "kubeadm_api", "cgroup_v1"}


@pytest.mark.parametrize("minor,containerd,works", [
    ("1.35", "1.6.20~ds1", False), ("1.35", "1.7.24", True), ("1.35", "2.1.9", True),
    ("1.36", "1.7.24", False), ("1.36", "2.0.0", True), ("1.37", "v2.1.9", True), ("1.37", "3.0.0", False),
])
def test_containerd_versions_per_minor(minor, containerd, works):
    assert versions.containerd_supported(minor, containerd) is works
