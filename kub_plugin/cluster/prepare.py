"""Prepare a host: kub's owner mark, kernel and swap, the Kubernetes packages, containerd."""
from ..hosts import scripts, state
from ..hosts.runner import apply, ok_or_raise
from . import registries


def prepare(host, facts, profile, settings, owner, repository_key, versions, release=None, os_packages=()):
    """Marks the host as the cluster's (`owner`: (cluster id, the mark's line)), then kernel, swap, the Kubernetes
    packages (with `os_packages`, more from the OS: a master's load balancer, etcd's client) and containerd: the OS's
    package, or (with `release`, a local.containerd.ContainerdRelease) containerd's upstream release."""
    cluster_id, mark = owner
    apply(host, "owner mark, kernel and swap", scripts.PREPARE_HOST.call(cluster_id=cluster_id, owner=mark),
          timeout=120)
    apply(host, f"Kubernetes {settings.kubernetes_version} packages", scripts.PACKAGES.call(
        repo_url=settings.repository_url, repo_key=repository_key,
        install=" ".join(f"{p}={v}" for p, v in sorted(versions.items())),
        os_packages=" ".join(([profile["containerd_package"]] if release is None else []) + list(os_packages))))
    if release is not None:
        install_containerd_release(host, facts, settings, release)
    apply(host, "containerd", containerd_config(settings))


def containerd_config(settings):
    """containerd.sh with the registry hosts files of the cluster's mirrors."""
    return scripts.CONTAINERD.call(registry_hosts=registries.script_value(settings.registry_mirrors))


def install_containerd_release(host, facts, settings, release):
    """Uploads and installs containerd's release under /usr/local, unless the host has this very one. (A plan
    uploads nothing: the script tells what it would install.)"""
    label = f"containerd {settings.containerd_version} release"
    if facts.containerd_release == release.record:
        if host.plan is None:
            host.log(f"{label}: no change")
        return
    files = (("containerd.tar.gz", release.tarball), ("runc", release.runc), ("containerd.service", release.unit))
    for name, data in files if host.plan is None else ():
        ok_or_raise(host, host.upload(data, f"{state.CONTAINERD_STAGING}/{name}"), f"uploading {name}")
    apply(host, label, scripts.CONTAINERD_RELEASE.call(record=release.record, **scripts.keywords(release.sums())))
