"""The upstream kubectl on the machine running cfy, for a cluster kub reaches through a kubeconfig alone.

Downloaded from kubectl_url (dl.k8s.io's layout: .../v{version}/bin/linux/{arch}/kubectl), checked against the
sha256 published beside it (`<url>.sha256`), and kept in kub's folder (places.py) as `kubectl/v<version>-<arch>/`
with the digest it was checked against; a kept one is used only while it still has that digest.

Which release: the cluster's own. Its version is known only once a kubectl asks its API server, so kub first runs a
kubectl it keeps (the newest), or else the newest patch (`stable-<minor>.txt` beside the releases) of the newest
minor it supports; any kubectl reads a server's version. Then the server's exact patch, or, where the mirror has
not that patch (a provider's own build), the newest patch of the server's minor.
"""
import os
import platform
import re
import tempfile

from ..cluster import versions
from ..errors import ConfigError
from . import places
from .containerd import fetch_checked
from .downloads import DownloadError, fetch, sha256

ARCHS = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
RELEASE = re.compile(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)")
FOLDER = re.compile(r"v([0-9]+)\.([0-9]+)\.([0-9]+)-([a-z0-9]+)")


def machine_arch():
    """The machine running cfy's architecture as Kubernetes names it."""
    found = ARCHS.get(platform.machine().lower())
    if found is None:
        raise ConfigError(f"the machine running cfy is {platform.machine()}, for which kub fetches no kubectl: run cfy "
                          f"on an x86_64 or arm64 machine")
    return found


def release_of(git_version):
    """'v1.36.2-eks-1a2b' -> '1.36.2' (a server's gitVersion, a provider's suffix dropped); None if no release."""
    found = RELEASE.match(git_version.strip())
    return ".".join(found.groups()) if found else None


def stable_url(template, minor):
    """Where dl.k8s.io's layout says which patch of a minor is the newest: stable-<minor>.txt beside v<version>/."""
    return template.split("/v{version}/", 1)[0] + f"/stable-{minor}.txt"


def newest_patch(template, minor):
    """The newest patch release of a minor, as the mirror publishes it."""
    url = stable_url(template, minor)
    try:
        text = fetch(url, timeout=60, limit=1024).decode(errors="replace").strip()
    except DownloadError as err:
        raise ConfigError(f"cannot read {url} ({err}), which names kubectl's newest {minor} release: check "
                          f"kubectl_url (dl.k8s.io's layout, or a mirror of it) and that the machine running cfy "
                          f"reaches it") from None
    release = release_of(text)
    if release is None or release.rsplit(".", 1)[0] != minor:
        raise ConfigError(f"{url} does not name a {minor} release ({text[:40]!r}): check kubectl_url and its mirror")
    return release


def cluster_kubectl(template, arch, server_release_of, log):
    """(path, the server's release) of the kubectl for a cluster: `server_release_of(path)` is the server's release
    as the kubectl at path reads it."""
    first_release = first = None
    for release in sorted(kept_releases(arch), key=versions.as_tuple, reverse=True):
        first = kept_path(release, arch)
        if first:
            first_release = release
            break
    if first is None:
        first_release = newest_patch(template, max(versions.MINORS, key=versions.as_tuple))
        first = ensure(template, first_release, arch, log)
    server = server_release_of(first)
    # the kubectl that asked is most often the server's own: its digest, over the whole binary, is checked once
    path = first if server == first_release else kept_path(server, arch)
    if path:
        return path, server
    release = _release_for(template, server, arch)
    if release != server:
        log(f"kubectl_url has no kubectl v{server}: using v{release}, the newest of its minor")
    return ensure(template, release, arch, log), server


def _release_for(template, server_release, arch):
    """The kubectl release for a server of `server_release` that is not kept here: that one when published, else
    the newest patch of its minor."""
    try:
        fetch(template.format(version=server_release, arch=arch), timeout=300)
        return server_release
    except DownloadError as err:
        if not err.missing:
            return server_release   # not reachable: ensure() says so, naming the URL
    return newest_patch(template, server_release.rsplit(".", 1)[0])


def ensure(template, release, arch, log):
    """The path of kubectl `release` for `arch` here: kept, or downloaded, checked and kept."""
    path = kept_path(release, arch)
    if path:
        return path
    url = template.format(version=release, arch=arch)
    body = fetch_checked(url, f"{url}.sha256", "kubectl_url")
    folder = places.kub_dir("kubectl", f"v{release}-{arch}")
    _write(folder, "kubectl", body, 0o700)
    _write(folder, "kubectl.sha256", f"{sha256(body)}\n".encode(), 0o600)
    log(f"kubectl v{release} (linux/{arch}): downloaded from {url}, its sha256 checked, kept in {folder}")
    return os.path.join(folder, "kubectl")


def kept_releases(arch):
    """The releases of kubectl kept here for `arch` (not yet checked: see kept_path)."""
    try:
        names = os.listdir(places.kub_dir("kubectl"))
    except OSError:
        return []
    found = [FOLDER.fullmatch(name) for name in names]
    return [".".join(m.groups()[:3]) for m in found if m and m.group(4) == arch]


def kept_path(release, arch):
    """The kept kubectl of that release, when it still has the sha256 it was checked against; else None."""
    folder = os.path.join(places.kub_dir("kubectl"), f"v{release}-{arch}")
    try:
        with open(os.path.join(folder, "kubectl.sha256")) as f:
            recorded = f.read().strip()
        with open(os.path.join(folder, "kubectl"), "rb") as f:
            found = sha256(f.read())
    except OSError:
        return None
    return os.path.join(folder, "kubectl") if recorded and found == recorded else None


def _write(folder, name, data, mode):
    """Writes a file through a temporary one renamed into place: another run never sees half of it."""
    fd, temporary = tempfile.mkstemp(prefix=f".{name}-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, os.path.join(folder, name))
    except BaseException:
        os.unlink(temporary)
        raise
