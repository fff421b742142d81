"""Work kub does on the machine running cfy: the package repository's key and index, the CNI manifest, the
local admin kubeconfig. Hosts need no internet for these: kub fetches here and uploads."""
import gzip
import hashlib
import os
import re
import tempfile
import threading
import time
import urllib.error
import urllib.request

from . import hoststate, versions, workloads
from .config import ConfigError

FETCH_TIMEOUT = 30
# how long a download is kept: the operations of one run share it, while a long-lived process (a Cloudify
# Manager's worker) neither goes on with a stale index or "latest" manifest nor keeps old releases in memory
CACHE_SECONDS = 600
_cache = {}   # key -> (when it was made, value)
_cache_lock = threading.Lock()


def _cached(key, make):
    """What make() returns for key, made again once it is CACHE_SECONDS old."""
    now = time.monotonic()
    with _cache_lock:
        for old in [k for k, (made, _) in _cache.items() if now - made > CACHE_SECONDS]:
            del _cache[old]
        if key in _cache:
            return _cache[key][1]
    value = make()
    with _cache_lock:
        _cache[key] = (now, value)
    return value


def _fetch(url, timeout=FETCH_TIMEOUT):
    """The body at url (kept for CACHE_SECONDS); HTTPError and URLError pass to the caller."""
    def read():
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    return _cached(url, read)


def _why(err):
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    return str(getattr(err, "reason", err))


def repository_key(settings):
    """The repository's armored signing key; fetching it also proves the repository has this minor."""
    url = settings.repository_key_url
    try:
        key = _fetch(url).decode(errors="replace").strip()
    except urllib.error.HTTPError as err:
        raise ConfigError(f"Kubernetes {settings.kubernetes_version} is not in the package repository "
                          f"({url} answered {_why(err)}): set kubernetes_version to a minor it has, "
                          f"or fix package_repository_url / package_repository_key_url") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ConfigError(f"cannot fetch the package repository key {url} ({_why(err)}): "
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
            body = _fetch(base + name)
            text = (gzip.decompress(body) if name.endswith(".gz") else body).decode(errors="replace")
            break
        except urllib.error.URLError as err:
            if isinstance(err, urllib.error.HTTPError) or isinstance(err.reason, FileNotFoundError):
                continue   # try the next name
            raise ConfigError(f"cannot read the package index at {base} ({_why(err)}): check "
                              f"package_repository_url and that this machine reaches it") from None
        except (OSError, ValueError, EOFError) as err:
            raise ConfigError(f"cannot read the package index at {base} ({_why(err)}): check "
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
                                for package in hoststate.KUBERNETES_PACKAGES))
    kube = newest(hoststate.KUBERNETES_PACKAGES[0], lambda v: v in common)
    if kube is None:
        raise ConfigError(f"the package repository {base} has no {'/'.join(hoststate.KUBERNETES_PACKAGES)} "
                          f"{settings.kubernetes_version}.x for {', '.join(sorted(archs))}: set kubernetes_version "
                          f"to a minor it has, or fix package_repository_url")
    versions = {package: kube for package in hoststate.KUBERNETES_PACKAGES}
    for package in hoststate.KUBERNETES_DEPENDENCIES:
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


def cni_manifest(source, get_resource):
    """The CNI manifest's text (see text_from)."""
    if not source:
        raise ConfigError("cluster.cni_manifest is empty: give a CNI manifest path or URL "
                          "(e.g. flannel's kube-flannel.yml)")
    return text_from(source, get_resource, "cluster.cni_manifest")


def manifest(source, get_resource, node_id):
    """A workload manifest's text (see text_from)."""
    return text_from(source, get_resource, f"node {node_id}: manifest")


def text_from(source, get_resource, what):
    """A manifest's text: from a URL (fetched here), an absolute path here, or a path relative to the blueprint
    (get_resource(path) -> bytes). `what` names it in errors."""
    where = f"{what} {source}"
    if source.startswith(("http://", "https://")):
        try:
            body = _fetch(source, timeout=60)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise ConfigError(f"{where} cannot be fetched ({_why(err)}): check the URL and that this machine "
                              f"reaches it, or give a local copy's path") from None
    elif os.path.isabs(os.path.expanduser(source)):
        try:
            with open(os.path.expanduser(source), "rb") as f:
                body = f.read()
        except OSError as err:
            raise ConfigError(f"{where} cannot be read ({err.strerror}): give an existing file on the machine "
                              f"running cfy, a path relative to the blueprint, or a URL") from None
    else:
        try:
            body = get_resource(source)
        except Exception:   # cloudify raises its own types for a missing resource
            raise ConfigError(f"{where} not found beside the blueprint: give a path relative to the blueprint's "
                              f"folder, an absolute path, or a URL") from None
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where} is not UTF-8 text (byte {err.start}): give the YAML manifest itself, saved "
                          f"as UTF-8") from None


def workload(props, node_id, get_resource):
    """A Workload node's settings and checked objects [(object, Ref)]: its manifests read (fetched, for URLs)
    here, in order, then its inline resources."""
    settings = workloads.settings(props, node_id)
    manifests, resources = workloads.sources(props, node_id)
    found = []
    for source in manifests:
        found += workloads.parse_manifest(manifest(source, get_resource, node_id), source, node_id)
    for number, obj in enumerate(resources, 1):
        found += workloads.expanded(obj, f"resources item {number}", node_id)
    return settings, workloads.objects_of(found, settings.namespace, node_id)


def write_kubeconfig(path, text):
    """Writes a kubeconfig here, mode 0600, only when it differs. Returns True when written.

    Through a temporary file made with O_EXCL|O_NOFOLLOW in the target's folder, then renamed over the target:
    a planted symlink or a leftover file with a loose mode decides neither where the secret goes nor its mode."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        st = os.lstat(path)
        if (os.path.isfile(path) and not os.path.islink(path) and st.st_mode & 0o777 == 0o600
                and st.st_uid == os.getuid()):
            with open(path, "rb") as f:
                if f.read() == text.encode():
                    return False
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(prefix=".kub-", dir=folder)   # O_EXCL|O_NOFOLLOW, mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return True


def remove_kubeconfig(path):
    """Removes the local kubeconfig kub wrote (a symlink put there since is removed, never followed)."""
    if os.path.lexists(path):
        os.unlink(path)
        return True
    return False



def default_kubeconfig_path(deployment_id):
    """Where the admin kubeconfig goes here when local_kubeconfig_path is empty."""
    return os.path.join("~", ".kube", f"kub-{deployment_id}.conf")


class ContainerdRelease:
    """containerd's release files for one architecture, fetched here and checked against their published
    sha256 sums: the tarball, runc and the systemd unit, with the record kub keeps of them on a host."""

    def __init__(self, settings, arch):
        urls = settings.containerd_downloads(arch)
        unit_sha256 = _pinned_unit_sha256(settings.containerd_version)
        self.tarball = _fetch_checked(urls["containerd"], urls["containerd"] + ".sha256sum", "containerd_url")
        runc_sums = urls["runc"].rsplit("/", 1)[0] + "/runc.sha256sum"
        self.runc = _fetch_checked(urls["runc"], runc_sums, "runc_url")
        self.unit = _download(urls["unit"], "containerd_unit_url")
        _check_unit(urls["unit"], self.unit, unit_sha256, settings.containerd_version)
        self.record = " ".join([f"containerd={settings.containerd_version}", _sha256(self.tarball),
                                f"runc={settings.runc_version}", _sha256(self.runc), "unit", _sha256(self.unit)])

    def sums(self):
        return {"KUB_TARBALL_SHA256": _sha256(self.tarball), "KUB_RUNC_SHA256": _sha256(self.runc),
                "KUB_UNIT_SHA256": _sha256(self.unit)}


def containerd_release(settings, arch):
    key = ("containerd", settings.containerd_version, settings.runc_version, settings.containerd_url,
           settings.runc_url, settings.containerd_unit_url, arch)
    return _cached(key, lambda: ContainerdRelease(settings, arch))


def _pinned_unit_sha256(version):
    """containerd's unit runs as root and upstream publishes no sum for it: kub installs only a unit whose
    sha256 it knows for this release (versions.CONTAINERD_UNIT_SHA256)."""
    pinned = versions.containerd_unit_sha256(version)
    if pinned is None:
        raise ConfigError(f"kub knows no sha256 of containerd {version}'s systemd unit (only of "
                          f"{versions.containerd_unit_versions()}): set cluster.containerd_version to one of those")
    return pinned


def _check_unit(url, unit, pinned, version):
    found = _sha256(unit)
    if found != pinned:
        raise ConfigError(f"{url} has sha256 {found}, not {pinned}, that of containerd {version}'s upstream unit: "
                          f"point cluster.containerd_unit_url at upstream's containerd.service of v{version} (or a "
                          f"mirror that serves it unchanged)")


def _download(url, setting):
    try:
        return _fetch(url, timeout=300)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ConfigError(f"cannot download {url} ({_why(err)}): check cluster.{setting} and the versions in it, "
                          f"and that this machine reaches it (a mirror can replace it)") from None


def _fetch_checked(url, sums_url, setting):
    """The file at url, whose sha256 must be the one the sums file beside it lists for its name."""
    body = _download(url, setting)
    name = url.rsplit("/", 1)[-1]
    listed = {}
    for line in _download(sums_url, setting).decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 2:
            listed[fields[1].lstrip("*").rsplit("/", 1)[-1]] = fields[0].lower()
    wanted = listed.get(name)
    if wanted is None:
        raise ConfigError(f"{sums_url} lists no sha256 for {name}: check cluster.{setting} and its mirror")
    if _sha256(body) != wanted:
        raise ConfigError(f"{url}: its sha256 {_sha256(body)} is not the {wanted} that {sums_url} publishes: the "
                          f"download is damaged or not the release; check the mirror, then run install again")
    return body


def _sha256(body):
    return hashlib.sha256(body).hexdigest()
