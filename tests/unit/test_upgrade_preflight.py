"""kub_upgrade's checks before any change: facts of the cluster's members in, the hops or a one-line refusal out."""
from dataclasses import replace

import pytest

from kub_plugin.cfy import upgrades
from kub_plugin.cluster import upgrade
from kub_plugin.cluster.settings import ClusterSettings, SshSettings
from kub_plugin.errors import ConfigError


class Cluster:
    def __init__(self, settings):
        self.settings = settings


class FakeArtifacts:
    """What local.artifacts.Artifacts answers, from its settings alone (no repository read)."""

    def __init__(self, settings):
        self.settings = settings

    def of_minor(self, minor):
        return FakeArtifacts(replace(self.settings, kubernetes_version=minor))

    def newest_versions(self, archs):
        return {name: f"{self.settings.kubernetes_version}.3-1.1" for name in ("kubeadm", "kubelet", "kubectl")}


def members(*minors):
    return [upgrade.Member(SshSettings(ip=f"10.0.0.{11 + i}"), f"kubh{i + 1}", minor, 120, "x86_64",
                           f"{minor}.2-1.1", "") for i, minor in enumerate(minors)]


def check(settings, found, target):
    return upgrade.preflight(Cluster(settings), found, target, FakeArtifacts(settings), None)


def test_hops_and_the_versions_of_each():
    steps, wanted = check(ClusterSettings(), members("1.35", "1.35"), "1.37")
    assert steps == ["1.36", "1.37"] and wanted["1.37"]["kubelet"] == "1.37.3-1.1"
    assert check(ClusterSettings(), members("1.37", "1.36"), "1.37")[0] == ["1.37"]   # a re-run goes on
    assert check(ClusterSettings(), members("1.37"), "1.37")[0] == []


@pytest.mark.parametrize("settings,found,target,message", [
    (ClusterSettings(), members("1.36"), "1.35", "10.0.0.11: kubernetes_version 1.35 is lower than the running "
                                                 "cluster's 1.36, and Kubernetes cannot be downgraded"),
    (ClusterSettings(), members("1.35", "1.37"), "1.36", "10.0.0.12: node kubh2 already runs 1.37, above "
                                                         "kubernetes_version 1.36"),
    (ClusterSettings(), members("1.35"), "1.38", "kub_upgrade: kubernetes_version '1.38' is not a minor kub supports"),
    (ClusterSettings(containerd_source="os", kubernetes_version="1.35"), members("1.35"), "1.36",
     "10.0.0.11: Kubernetes 1.36 needs containerd 2.0 or newer, which the OS's packages do not give: set "
     "containerd_source: release"),
    (ClusterSettings(containerd_version="1.7.24", kubernetes_version="1.35"), members("1.35"), "1.36",
     "10.0.0.11: Kubernetes 1.36 needs containerd 2.0 or newer, not containerd 1.7.24: give kub_upgrade a "
     "containerd_version it supports, e.g. -p '{\"containerd_version\": \"2.1.9\"}' (kub upgrades containerd on each "
     "node in its turn)"),
])
def test_refused_before_any_change(settings, found, target, message):
    with pytest.raises(ConfigError) as err:
        check(settings, found, target)
    assert str(err.value).startswith(message), str(err.value)


def test_the_containerd_release_an_upgrade_brings():
    pinned = ClusterSettings(containerd_version="1.7.24", kubernetes_version="1.35")
    brought = upgrades._with_containerd(pinned, "2.1.9")
    assert brought.containerd_version == "2.1.9"
    assert check(brought, members("1.35"), "1.36")[0] == ["1.36"]
    assert upgrades._with_containerd(pinned, "") is pinned
    with pytest.raises(ConfigError, match="kub_upgrade: containerd_version '2.1' is not a release version"):
        upgrades._with_containerd(pinned, "2.1")
    with pytest.raises(ConfigError, match="containerd_version is for containerd from its release, and this cluster "
                                          "runs the OS's"):
        upgrades._with_containerd(ClusterSettings(containerd_source="os"), "2.1.9")
