"""The package repository, read here: its signing key, and from its index the versions every host installs (in
dpkg's version order)."""
import gzip
import re
import urllib.error

from ..errors import ConfigError
from ..hosts import state
from .downloads import fetch, why


def repository_key(settings):
    """The repository's armored signing key; fetching it also proves the repository has this minor."""
    url = settings.repository_key_url
    try:
        key = fetch(url).decode(errors="replace").strip()
    except urllib.error.HTTPError as err:
        raise ConfigError(f"Kubernetes {settings.kubernetes_version} is not in the package repository "
                          f"({url} answered {why(err)}): set kubernetes_version to a minor it has, "
                          f"or fix package_repository_url / package_repository_key_url") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ConfigError(f"cannot fetch the package repository key {url} ({why(err)}): "
                          f"check package_repository_key_url and that this machine reaches it") from None
    if "BEGIN PGP PUBLIC KEY BLOCK" not in key:
        raise ConfigError(f"{url} is not an armored PGP public key: point package_repository_key_url at the "
                          f"repository's Release.key")
    return key


def repository_versions(settings, archs):
    """{package: version} to install on every host: the newest Kubernetes packages of the minor, and the newest
    of their dependencies, that the repository offers for each of the cluster's architectures."""
    base = settings.repository_url
    text = None
    for name in ("Packages.gz", "Packages"):
        try:
            body = fetch(base + name)
            text = (gzip.decompress(body) if name.endswith(".gz") else body).decode(errors="replace")
            break
        except urllib.error.URLError as err:
            if isinstance(err, urllib.error.HTTPError) or isinstance(err.reason, FileNotFoundError):
                continue   # try the next name
            raise ConfigError(f"cannot read the package index at {base} ({why(err)}): check "
                              f"package_repository_url and that this machine reaches it") from None
        except (OSError, ValueError, EOFError) as err:
            raise ConfigError(f"cannot read the package index at {base} ({why(err)}): check "
                              f"package_repository_url and that this machine reaches it") from None
    if text is None:
        raise ConfigError(f"no package index (Packages or Packages.gz) at {base}: point package_repository_url at "
                          f"a repository laid out like pkgs.k8s.io")
    offered = {}   # (package, version) -> architectures
    for stanza in text.split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Architecture): *(\S+)", stanza, re.MULTILINE))
        if {"Package", "Version", "Architecture"} <= fields.keys():
            offered.setdefault((fields["Package"], fields["Version"]), set()).add(fields["Architecture"])

    def newest(package, wanted=lambda version: True):
        found = [v for (p, v), arch in offered.items() if p == package and set(archs) <= arch | {"all"}
                 and wanted(v)]
        return max(found, key=DebianVersion) if found else None

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


class DebianVersion:
    """Orders Debian version strings as dpkg does ([epoch:]upstream[-revision], '~' before anything)."""

    def __init__(self, text):
        epoch, _, rest = text.rpartition(":") if ":" in text else ("0", "", text)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        self.key = (int(epoch or 0), upstream, revision)

    def __lt__(self, other):
        if self.key[0] != other.key[0]:
            return self.key[0] < other.key[0]
        for mine, theirs in zip(self.key[1:], other.key[1:]):
            order = _compare_part(mine, theirs)
            if order:
                return order < 0
        return False


def _char_order(c):
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a, b):
    while a or b:
        letters_a, letters_b = re.match(r"\D*", a).group(), re.match(r"\D*", b).group()
        a, b = a[len(letters_a):], b[len(letters_b):]
        for i in range(max(len(letters_a), len(letters_b))):
            ca = _char_order(letters_a[i]) if i < len(letters_a) else 0
            cb = _char_order(letters_b[i]) if i < len(letters_b) else 0
            if ca != cb:
                return ca - cb
        digits_a, digits_b = re.match(r"\d*", a).group(), re.match(r"\d*", b).group()
        a, b = a[len(digits_a):], b[len(digits_b):]
        if int(digits_a or 0) != int(digits_b or 0):
            return int(digits_a or 0) - int(digits_b or 0)
    return 0
