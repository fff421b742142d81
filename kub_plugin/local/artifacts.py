"""What an install brings to a cluster's hosts, read on the machine running cfy before any host changes: the
repository's signing key, the package versions, containerd's release files."""
from dataclasses import replace

from ..hosts import osdata
from . import containerd, etcd_release, packages


class Artifacts:
    """What installing a cluster with these settings (cluster.settings.ClusterSettings) brings to its hosts."""

    def __init__(self, settings):
        self.settings = settings

    def of_minor(self, minor):
        """What the same cluster brings at another minor (an upgrade's hop): that minor's repository."""
        return Artifacts(replace(self.settings, kubernetes_version=minor))

    def newest_versions(self, archs):
        """{package: the repository's newest version} for hosts of these architectures (`uname -m`)."""
        return packages.repository_versions(self.settings, [osdata.SUPPORTED_ARCH[a] for a in sorted(archs)])

    def repository_key(self):
        """The package repository's armored signing key."""
        return packages.repository_key(self.settings)

    def package_versions(self, master_facts, archs):
        """{package: version}, the same for every host: a running cluster's own, else the repository's newest."""
        wanted = self.newest_versions(archs)
        if master_facts.recorded and set(wanted) <= set(master_facts.packages):
            return {package: master_facts.packages[package] for package in wanted}
        return wanted

    def containerd_release(self, arch):
        """containerd's release files for a host's architecture (`uname -m`), or None where the OS's is used."""
        if self.settings.containerd_source != "release":
            return None
        return containerd.containerd_release(self.settings, osdata.SUPPORTED_ARCH[arch])

    def etcd_release(self, version, arch):
        """etcd's release at the cluster's etcd version, for a host's architecture (`uname -m`): its tools."""
        return etcd_release.etcd_release(self.settings, version, osdata.SUPPORTED_ARCH[arch])
