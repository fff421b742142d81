"""The package repository, read here: its signing key, and from its index the versions every host installs (in
dpkg's version order)."""
import gzip

from debian.deb822 import Packages
from debian.debian_support import Version

from ..errors import ConfigError
from ..hosts import state
from .downloads import DownloadError, fetch

# the fields of the index kub reads (python-debian parses only these)
FIELDS = ["Package", "Version", "Architecture"]


def repository_key(settings):
    """The repository's armored signing key; fetching it also proves the repository has this minor."""
    url = settings.repository_key_url
    try:
        key = fetch(url).decode(errors="replace").strip()
    except DownloadError as err:
        if err.missing:
            raise ConfigError(f"Kubernetes {settings.kubernetes_version} is not in the package repository "
                              f"({url} answered {err}): set kubernetes_version to a minor it has, "
                              f"or fix package_repository_url / package_repository_key_url") from None
        raise ConfigError(f"cannot fetch the package repository key {url} ({err}): "
                          f"check package_repository_key_url and that this machine reaches it") from None
    if "BEGIN PGP PUBLIC KEY BLOCK" not in key:
        raise ConfigError(f"{url} is not an armored PGP public key: point package_repository_key_url at the "
                          f"repository's Release.key")
    return key


def repository_versions(settings, archs):
    """{package: version} to install on every host: the newest Kubernetes packages of the minor, and the newest
    of their dependencies, that the repository offers for each of the cluster's architectures."""
    base = settings.repository_url
    text = _index_text(base)
    if text is None:
        raise ConfigError(f"no package index (Packages or Packages.gz) at {base}: point package_repository_url at "
                          f"a repository laid out like pkgs.k8s.io")
    offered = {}   # (package, version) -> architectures
    for stanza in Packages.iter_paragraphs(text, fields=FIELDS, use_apt_pkg=False):
        if all(stanza.get(field) for field in FIELDS) and _is_version(stanza["Version"]):
            offered.setdefault((stanza["Package"], stanza["Version"]), set()).add(stanza["Architecture"])

    def newest(package, wanted=lambda version: True):
        found = [v for (p, v), arch in offered.items() if p == package and set(archs) <= arch | {"all"}
                 and wanted(v)]
        return max(found, key=Version) if found else None

    of_minor = lambda version: version.split(":")[-1].startswith(settings.kubernetes_version + ".")  # noqa: E731
    # kubelet, kubeadm and kubectl: the newest version all three have
    common = set.intersection(*({v for (p, v) in offered if p == package and of_minor(v)}
                                for package in state.KUBERNETES_PACKAGES))
    kube = newest(state.KUBERNETES_PACKAGES[0], lambda v: v in common)
    if kube is None:
        raise ConfigError(f"the package repository {base} has no {'/'.join(state.KUBERNETES_PACKAGES)} "
                          f"{settings.kubernetes_version}.x for {', '.join(sorted(archs))}: set kubernetes_version "
                          f"to a minor it has, or fix package_repository_url")
    versions = {package: kube for package in state.KUBERNETES_PACKAGES}
    for package in state.KUBERNETES_DEPENDENCIES:
        versions[package] = newest(package)
        if versions[package] is None:
            raise ConfigError(f"the package repository {base} has no {package} for {', '.join(sorted(archs))}: "
                              f"fix the mirror (pkgs.k8s.io has it beside kubeadm)")
    return versions


def _index_text(base):
    """The repository's index as text: its Packages.gz, or its Packages where that is missing; None where neither
    is there."""
    def unreadable(reason):
        return ConfigError(f"cannot read the package index at {base} ({reason}): check package_repository_url and "
                           f"that this machine reaches it")
    for name in ("Packages.gz", "Packages"):
        try:
            body = fetch(base + name)
        except DownloadError as err:
            if err.missing:
                continue   # try the next name
            raise unreadable(err) from None
        try:
            # gzip's own magic, not the name: a server may have sent Packages.gz unpacked (its Content-Encoding)
            return (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode(errors="replace")
        except (OSError, EOFError) as err:   # a damaged Packages.gz
            raise unreadable(err) from None
    return None


def _is_version(text):
    """Whether text is a Debian version (one that is not cannot be ordered, nor installed by apt)."""
    try:
        Version(text)
    except ValueError:
        return False
    return True
