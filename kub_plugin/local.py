"""Work kub does on the machine running cfy: the package repository's key and index, the CNI manifest, the
local admin kubeconfig. Hosts need no internet for these: kub fetches here and uploads.

What kub reads here comes only from sources a blueprint may name (see Sources): on a Cloudify Manager a
blueprint must not make a worker read its own files or its cloud's metadata service and ship them to a host."""
import gzip
import hashlib
import http.client
import ipaddress
import os
import re
import socket
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from . import hoststate, versions, workloads
from .config import URL_SETTINGS, ConfigError

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


# cloud metadata services outside the link-local range (AWS's IPv6 one, Alibaba's)
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


class _Refused(Exception):
    """A URL kub does not fetch from (its reason as the message)."""


def _why_refused(address):
    """Why kub does not connect to an address ('' where it does)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for test, kind in ((ip.is_loopback, "a loopback"), (ip.is_link_local, "a link-local"),
                       (ip.is_unspecified, "an unspecified"), (ip.is_multicast, "a multicast")):
        if test:
            return f"{kind} address"
    return ""


def _checked_addresses(host, port):
    """getaddrinfo's answers for host, once every address it resolves to is one kub may connect to."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise urllib.error.URLError(err) from None
    for *_, sockaddr in found:
        why = _why_refused(sockaddr[0])
        if why:
            raise _Refused(f"{host} resolves to {sockaddr[0]}, {why} (loopback, link-local and cloud metadata "
                           f"addresses are refused)")
    return found


def _connect_checked(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """socket.create_connection to an address that was checked, not resolved again (no second answer)."""
    host, port = address
    error = None
    for family, kind, proto, _, sockaddr in _checked_addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as err:
            error = err
            sock.close()
    raise error or OSError(f"{host}: no address")


def _guarded(connection_class):
    class Guarded(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = _connect_checked
    return Guarded


class _GuardedHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """Connects only to addresses that are not loopback, link-local or metadata: the URL's host is checked at
    every request (redirects too), and the connection goes to the very addresses checked (a proxy the user set
    up is used as it is, the target host checked by its own resolution)."""

    def _open(self, connection_class, req, **kwargs):
        target = urllib.parse.urlsplit(req.full_url)
        _checked_addresses(target.hostname, target.port or (443 if target.scheme == "https" else 80))
        proxied = req.host != target.netloc or getattr(req, "_tunnel_host", None)
        return self.do_open(connection_class if proxied else _guarded(connection_class), req, **kwargs)

    def http_open(self, req):
        return self._open(http.client.HTTPConnection, req)

    def https_open(self, req):
        return self._open(http.client.HTTPSConnection, req, context=self._context)


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only (not ftp), and from https to https only."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        allowed = ("https",) if req.full_url.lower().startswith("https://") else ("https", "http")
        if urllib.parse.urlsplit(newurl).scheme.lower() not in allowed:
            raise _Refused(f"it redirects to {newurl}, which is not {' or '.join(allowed)}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_GuardedHandler(), _NoDowngrade())


def _fetch(url, timeout=FETCH_TIMEOUT):
    """The body at url (kept for CACHE_SECONDS); HTTPError and URLError pass to the caller. A host that is
    loopback, link-local or a cloud metadata address is refused (ConfigError), also after a redirect."""
    def read():
        try:
            with _opener.open(url, timeout=timeout) as response:
                return response.read()
        except _Refused as err:
            raise ConfigError(f"{url} is not fetched: {err}: give a URL of a server elsewhere (a mirror), or a "
                              f"file beside the blueprint") from None
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


@dataclass(frozen=True)
class Sources:
    """Where kub may read a manifest from, here: a path relative to the blueprint (get_resource(path) -> bytes),
    an https:// URL (http:// where allow_plain_http is set: a mirror on a network the user trusts), and, only in
    local mode (local_mode), an absolute or ~ path. On a Cloudify Manager an absolute path would name a file of
    its worker (another deployment's kubeconfig), so it is refused there."""
    get_resource: object
    local_mode: bool
    allow_plain_http: bool = False


def check_url_settings(settings, sources):
    """The cluster's URL settings name no file of the machine running cfy (file://) outside local mode."""
    for name in URL_SETTINGS:
        value = getattr(settings, name)
        if value.lower().startswith("file://") and not sources.local_mode:
            raise ConfigError(f"cluster.{name} {value}: a file:// URL names a file of the Cloudify Manager's worker, "
                              f"which a blueprint may not read: give an https URL (a mirror)")


def cni_manifest(source, sources, node_id):
    """The CNI manifest as the text of its checked Kubernetes objects (see text_from): what is uploaded is only
    what parsed into objects, so anything else (a kubeconfig, a key) is refused here and never leaves."""
    if not source:
        raise ConfigError("cluster.cni_manifest is empty: give a CNI manifest path or URL "
                          "(e.g. flannel's kube-flannel.yml)")
    what = f"cluster.cni_manifest {source}"
    objects = workloads.parse_manifest(text_from(source, sources, "cluster.cni_manifest"), what, node_id)
    if not objects:
        raise ConfigError(f"node {node_id}: {what} holds no Kubernetes object: give the CNI's manifest (e.g. "
                          f"flannel's kube-flannel.yml)")
    checked = workloads.objects_of(objects, "kube-system", node_id)
    return workloads.manifest_text([obj for obj, _ in checked])


def manifest(source, sources, node_id):
    """A workload manifest's text (see text_from)."""
    return text_from(source, sources, f"node {node_id}: manifest")


def text_from(source, sources, what):
    """A manifest's text from one of the Sources a blueprint may name. `what` names it in errors."""
    where = f"{what} {source}"
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", source)
    if scheme:
        allowed = ("https", "http") if sources.allow_plain_http else ("https",)
        if scheme.group(1).lower() not in allowed:
            hint = (" (plain http only with allow_plain_http: true, for a mirror on a network you trust)"
                    if scheme.group(1).lower() == "http" else "")
            raise ConfigError(f"{where}: only https:// URLs are fetched{hint}: give an https URL, or a path "
                              f"relative to the blueprint")
        try:
            body = _fetch(source, timeout=60)
        except ConfigError as err:
            raise ConfigError(f"{what} {err}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise ConfigError(f"{where} cannot be fetched ({_why(err)}): check the URL and that this machine "
                              f"reaches it, or give a local copy's path") from None
    elif os.path.isabs(os.path.expanduser(source)):
        if not sources.local_mode:
            raise ConfigError(f"{where}: an absolute path names a file of the Cloudify Manager's worker, which a "
                              f"blueprint may not read: give a path relative to the blueprint (uploaded with it) "
                              f"or an https URL")
        try:
            with open(os.path.expanduser(source), "rb") as f:
                body = f.read()
        except OSError as err:
            raise ConfigError(f"{where} cannot be read ({err.strerror}): give an existing file on the machine "
                              f"running cfy, a path relative to the blueprint, or a URL") from None
    elif ".." in re.split(r"[/\\]", source):
        raise ConfigError(f"{where}: a path relative to the blueprint may not leave its folder ('..'): put the "
                          f"file in the blueprint's folder")
    else:
        try:
            body = sources.get_resource(source)
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


def workload(props, node_id, sources):
    """A Workload node's settings and checked objects [(object, Ref)]: its manifests read (fetched, for URLs)
    here from the Sources its cluster allows, in order, then its inline resources."""
    settings = workloads.settings(props, node_id)
    manifests, resources = workloads.sources(props, node_id)
    found = []
    for source in manifests:
        found += workloads.parse_manifest(manifest(source, sources, node_id), source, node_id)
    for number, obj in enumerate(resources, 1):
        found += workloads.expanded(obj, f"resources item {number}", node_id)
    return settings, workloads.objects_of(found, settings.namespace, node_id)


def kubeconfig_sha256(text):
    """What kub records of a kubeconfig it writes here: its sha256 (never the content: it holds credentials)."""
    return _sha256(text.encode())


def holds(path, sha256):
    """Whether path is a regular file (not a link) whose content has this sha256."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        return stat.S_ISREG(os.fstat(fd).st_mode) and _sha256(f.read()) == sha256


def kubeconfig_place(path, text, recorded, deployment_id):
    """Where kub's admin kubeconfig goes here: `path` when nothing is there, or what is there is kub's (it holds
    what kub recorded writing, or this very text); else, never over the file it found, beside it
    (`<path>.kub-<deployment>`, under the same rule). recorded: {path: sha256} of what kub wrote before.
    Returns (where, the file it found and left at `path`, or '')."""
    beside = f"{path}.kub-{deployment_id}"
    wanted = kubeconfig_sha256(text)
    for candidate in (path, beside):
        if not os.path.lexists(candidate) or any(holds(candidate, sha) for sha in (recorded.get(candidate), wanted)
                                                 if sha):
            return candidate, "" if candidate == path else path
    raise ConfigError(f"local_kubeconfig_path {path} and {beside} are files kub did not write (or that changed "
                      f"since): kub overwrites neither; move one away, or set local_kubeconfig_path to a new file")


def write_kubeconfig(path, text):
    """Writes a kubeconfig here, mode 0600, only when it differs. Returns True when written. The caller decided
    that path is free or kub's (kubeconfig_place).

    Through a temporary file made with O_EXCL|O_NOFOLLOW in the target's folder, then renamed over the target:
    a planted symlink or a leftover file with a loose mode decides neither where the secret goes nor its mode."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o600 and st.st_uid == os.getuid() and \
                holds(path, kubeconfig_sha256(text)):
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


def remove_kubeconfig(path, sha256):
    """Removes the local kubeconfig kub wrote, only while it holds what kub recorded writing (sha256). Returns
    what was done, in one line: removed, left (changed since, or not a file), or '' when nothing is there."""
    if not os.path.lexists(path):
        return ""
    if sha256 and holds(path, sha256):
        os.unlink(path)
        return f"removed the local kubeconfig {path}"
    why = "it changed since kub wrote it" if sha256 else "kub has no record of what it wrote there"
    return f"left the local kubeconfig {path} as it is: {why} (edited by hand?); remove it yourself if it is not needed"


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
