"""etcd's own tools (etcdctl, etcdutl) at the cluster's etcd version, from etcd's release: downloaded here and
checked against the sums etcd publishes beside it, before anything is sent to a host."""
from .containerd import fetch_checked
from .downloads import cached, sha256


class EtcdRelease:
    """etcd's release tarball for one version and architecture, checked; `record`: what kub notes on a host."""

    def __init__(self, settings, version, arch):
        url = settings.etcd_url.format(version=version, arch=arch)
        self.version = version
        self.tarball = fetch_checked(url, url.rsplit("/", 1)[0] + "/SHA256SUMS", "cluster.etcd_url")
        self.sha256 = sha256(self.tarball)
        self.record = f"etcd={version} {self.sha256}"


def etcd_release(settings, version, arch):
    return cached(("etcd", settings.etcd_url, version, arch), lambda: EtcdRelease(settings, version, arch))
