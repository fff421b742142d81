"""containerd's release files, downloaded here and checked before any host changes; hosts need no internet."""
from ..cluster import versions
from ..errors import ConfigError
from .downloads import DownloadError, cached, fetch, sha256


class ContainerdRelease:
    """containerd's release files for one architecture, fetched here and checked against their published
    sha256 sums: the tarball, runc and the systemd unit, with the record kub keeps of them on a host."""

    def __init__(self, settings, arch):
        urls = settings.containerd_downloads(arch)
        unit_sha256 = _pinned_unit_sha256(settings.containerd_version)
        self.tarball = fetch_checked(urls["containerd"], urls["containerd"] + ".sha256sum", "cluster.containerd_url")
        runc_sums = urls["runc"].rsplit("/", 1)[0] + "/runc.sha256sum"
        self.runc = fetch_checked(urls["runc"], runc_sums, "cluster.runc_url")
        self.unit = _download(urls["unit"], "cluster.containerd_unit_url")
        _check_unit(urls["unit"], self.unit, unit_sha256, settings.containerd_version)
        self.record = " ".join([f"containerd={settings.containerd_version}", sha256(self.tarball),
                                f"runc={settings.runc_version}", sha256(self.runc), "unit", sha256(self.unit)])

    def sums(self):
        return {"KUB_TARBALL_SHA256": sha256(self.tarball), "KUB_RUNC_SHA256": sha256(self.runc),
                "KUB_UNIT_SHA256": sha256(self.unit)}


def containerd_release(settings, arch):
    key = ("containerd", settings.containerd_version, settings.runc_version, settings.containerd_url,
           settings.runc_url, settings.containerd_unit_url, arch)
    return cached(key, lambda: ContainerdRelease(settings, arch))


def _pinned_unit_sha256(version):
    """containerd's unit runs as root and upstream publishes no sum for it: kub installs only a unit whose
    sha256 it knows for this release (versions.CONTAINERD_UNIT_SHA256)."""
    pinned = versions.containerd_unit_sha256(version)
    if pinned is None:
        raise ConfigError(f"kub knows no sha256 of containerd {version}'s systemd unit (only of "
                          f"{versions.containerd_unit_versions()}): set cluster.containerd_version to one of those")
    return pinned


def _check_unit(url, unit, pinned, version):
    found = sha256(unit)
    if found != pinned:
        raise ConfigError(f"{url} has sha256 {found}, not {pinned}, that of containerd {version}'s upstream unit: "
                          f"point cluster.containerd_unit_url at upstream's containerd.service of v{version} (or a "
                          f"mirror that serves it unchanged)")


def _download(url, setting):
    try:
        return fetch(url, timeout=300)
    except DownloadError as err:
        raise ConfigError(f"cannot download {url} ({err}): check {setting} and the versions in it, "
                          f"and that this machine reaches it (a mirror can replace it)") from None


def fetch_checked(url, sums_url, setting):
    """The file at url, whose sha256 must be the one the sums file beside it lists for its name (sha256sum's
    `<digest>  <name>` lines), or the bare digest a `<url>.sha256` file holds (dl.k8s.io's). `setting`: the
    setting that names url, for messages."""
    body = _download(url, setting)
    name = url.rsplit("/", 1)[-1]
    listed = {}
    for line in _download(sums_url, setting).decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 2:
            listed[fields[1].lstrip("*").rsplit("/", 1)[-1]] = fields[0].lower()
        elif len(fields) == 1 and sums_url == f"{url}.sha256":
            listed[name] = fields[0].lower()
    wanted = listed.get(name)
    if wanted is None:
        raise ConfigError(f"{sums_url} lists no sha256 for {name}: check {setting} and its mirror")
    if sha256(body) != wanted:
        raise ConfigError(f"{url}: its sha256 {sha256(body)} is not the {wanted} that {sums_url} publishes: the "
                          f"download is damaged or not the release; check the mirror, then run it again")
    return body
