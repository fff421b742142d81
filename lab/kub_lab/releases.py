"""containerd and runc as their upstream releases publish them, built from Debian's real binaries.

Upstream installers (and kub, with containerd source `release`) download
    github.com/containerd/containerd/releases/download/v{V}/containerd-{V}-linux-{arch}.tar.gz (+ .sha256sum)
    github.com/opencontainers/runc/releases/download/v{R}/runc.{arch} (+ runc.sha256sum)
    raw.githubusercontent.com/containerd/containerd/v{V}/containerd.service
The lab has no internet, so it makes the same files, at the same paths under its service URL:
- containerd: Debian unstable's `containerd` 2.1.x package (libc >= 2.34, so it runs on Debian 12 and 13),
  repacked in the upstream tarball layout (bin/containerd, bin/containerd-shim-runc-v2, bin/ctr, ...);
- runc: Debian 12's `runc` package. Debian 13's runc (1.1.15+ds1-2+b4) needs GLIBC_2.38 and unstable's 1.3.x
  too, so neither runs on Debian 12; Debian 12's runs on both releases. It links libseccomp.so.2, which
  every lab host has (systemd depends on it). The release file is a Python zip application holding that binary,
  which it runs from memory after raising a container's negative oom_score_adj to 0: this machine withholds
  CAP_SYS_RESOURCE, which lowering it needs (kub_lab/upstream/runc_main.py);
- containerd.service: upstream's unit file of that release (kub_lab/upstream/containerd.service);
- the etcd image kubeadm's etcd static pod runs (registry.k8s.io/etcd:<version>-0): the real etcd, etcdctl and
  etcdutl of Debian 13's `etcd-server` and `etcd-client` packages (3.5.x, libc >= 2.34), laid out as
  registry.k8s.io/etcd/<version>-0/{etcd,etcdctl,etcdutl}, where the stand-in kubelet pulls it from.

Packages come from the Debian mirror the lab uses for everything (rootfs.MIRROR): the suite's InRelease,
checked with gpgv against this machine's Debian archive keyring, gives the Packages.xz checksum, Packages
gives the pool file and its checksum. Everything is built once into /var/cache/kub-lab/releases-<recipe hash>
and kept; .debs are cached in /var/cache/kub-lab/release-debs.

    ensure_releases() -> Path     the tree above (plus versions.json), built if needed
    versions(path) -> dict        {"containerd": "2.1.9", "runc": "1.1.5", ...} of a built tree
"""
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from kub_lab import rootfs, system

CACHE_DIR = rootfs.CACHE_DIR
MIRROR = rootfs.MIRROR
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
ARCH = "amd64"   # the lab's hosts run on this machine (x86_64)
# package -> where it comes from and which upstream series it must be
CONTAINERD = {"package": "containerd", "suite": "sid", "series": "2.1",
              "binaries": {"usr/bin/containerd": "bin/containerd",
                           "usr/bin/containerd-shim-runc-v2": "bin/containerd-shim-runc-v2",
                           "usr/bin/containerd-stress": "bin/containerd-stress",
                           "usr/bin/ctr": "bin/ctr"},
              "required": ("bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr")}
RUNC = {"package": "runc", "suite": "bookworm", "series": "1.1", "binary": "usr/sbin/runc"}
# the etcd image: its binaries from Debian's packages; the tag is upstream's image tag (<version>-0)
ETCD = {"suite": "trixie", "series": "3.5",
        "binaries": {"etcd-server": ("usr/bin/etcd", "usr/bin/etcdutl"), "etcd-client": ("usr/bin/etcdctl",)}}
UNIT = Path(__file__).resolve().with_name("upstream") / "containerd.service"
RUNC_MAIN = UNIT.with_name("runc_main.py")
TAR_MTIME = 1735689600   # fixed: the same inputs give the same tarball (and checksum)
TIMEOUT = 120


def recipe():
    return {"containerd": CONTAINERD, "runc": RUNC, "etcd": ETCD, "arch": ARCH, "mirror": MIRROR,
            "unit": hashlib.sha256(UNIT.read_bytes()).hexdigest(),
            "runc_main": hashlib.sha256(RUNC_MAIN.read_bytes()).hexdigest(), "format": 3}


def releases_path():
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]
    return CACHE_DIR / f"releases-{digest}"


def versions(path):
    return json.loads((Path(path) / "versions.json").read_text())


def containerd_paths(version, arch=ARCH):
    base = f"github.com/containerd/containerd/releases/download/v{version}/containerd-{version}-linux-{arch}.tar.gz"
    return base, base + ".sha256sum"


def runc_paths(version, arch=ARCH):
    base = f"github.com/opencontainers/runc/releases/download/v{version}/"
    return base + f"runc.{arch}", base + "runc.sha256sum"


def unit_path(version):
    return f"raw.githubusercontent.com/containerd/containerd/v{version}/containerd.service"


def etcd_release_paths(version, arch=ARCH):
    """etcd's release tarball (etcd, etcdctl, etcdutl under etcd-v<version>-linux-<arch>/) and its SHA256SUMS."""
    base = f"github.com/etcd-io/etcd/releases/download/v{version}/"
    return base + f"etcd-v{version}-linux-{arch}.tar.gz", base + "SHA256SUMS"


def etcd_image_path(version):
    """Where the etcd image's binaries are, under the releases directory (and the lab service's URL)."""
    return f"registry.k8s.io/etcd/{version}-0"


def ensure_releases(log=sys.stderr):
    """Directory of the upstream-shaped release files; built once (one builder at a time, others wait)."""
    return system.built_once(releases_path(), "versions.json", "releases", "containerd and runc releases", _build,
                             log)


# ---- Debian archive -------------------------------------------------------------------------------------

def _get(url):
    request = urllib.request.Request(url, headers={"User-Agent": "kub-lab"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.read()
    except OSError as e:
        raise system.LabError(f"cannot download {url} ({e}); the lab needs {MIRROR} reachable from this machine")


def _release_file(suite):
    """The suite's Release text, its InRelease signature checked with this machine's Debian keyring."""
    with tempfile.TemporaryDirectory() as tmp:
        signed = Path(tmp) / "InRelease"
        signed.write_bytes(_get(f"{MIRROR}/dists/{suite}/InRelease"))
        p = subprocess.run(["gpgv", "--keyring", KEYRING, "--output", "-", str(signed)], capture_output=True)
    if p.returncode != 0:
        raise system.LabError(f"the InRelease of Debian {suite} does not verify with {KEYRING}; "
                              "update debian-archive-keyring on this machine")
    return p.stdout.decode()


def _sha256_entries(release_text):
    out, in_sha256 = {}, False
    for line in release_text.splitlines():
        if not line.startswith(" "):
            in_sha256 = line.strip() == "SHA256:"
        elif in_sha256:
            digest, size, name = line.split()
            out[name] = (digest, int(size))
    return out


def _package(suite, name, arch=ARCH):
    """The Packages stanza (dict) of a binary package in a suite; several versions: the newest."""
    index = f"main/binary-{arch}/Packages.xz"
    digest = _sha256_entries(_release_file(suite)).get(index, (None,))[0]
    data = _get(f"{MIRROR}/dists/{suite}/{index}")
    if hashlib.sha256(data).hexdigest() != digest:
        raise system.LabError(f"Debian {suite} {index} does not match its InRelease checksum; try again later")
    found = []
    for stanza in lzma.decompress(data).decode().split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
        if fields.get("Package") == name:
            found.append(fields)
    if not found:
        raise system.LabError(f"Debian {suite} has no package {name} for {arch}")
    newest = found[0]
    for f in found[1:]:
        if subprocess.run(["dpkg", "--compare-versions", f["Version"], "gt", newest["Version"]]).returncode == 0:
            newest = f
    return newest


def _fetch_deb(stanza):
    debs = CACHE_DIR / "release-debs"
    debs.mkdir(parents=True, exist_ok=True)
    path = debs / os.path.basename(stanza["Filename"])
    if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == stanza["SHA256"]):
        data = _get(f"{MIRROR}/{stanza['Filename']}")
        if hashlib.sha256(data).hexdigest() != stanza["SHA256"]:
            raise system.LabError(f"{stanza['Filename']} does not match the checksum in Packages; try again later")
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def upstream_version(debian_version):
    """'2.1.9+ds1-5' -> '2.1.9', '1:1.1.5+ds1-1+deb12u1' -> '1.1.5'."""
    m = re.match(r"^(?:\d+:)?(\d+\.\d+\.\d+)", debian_version)
    if not m:
        raise system.LabError(f"cannot read an upstream version from Debian version {debian_version!r}")
    return m.group(1)


def _unpacked(deb, into):
    subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], check=True, capture_output=True)
    return into


def debian_package(package, suite, series, into):
    """A Debian package of `series` (e.g. '2.8') from `suite`, fetched (cached) and unpacked into `into`:
    (its upstream version, 'Debian <suite> <package> <version>')."""
    stanza, version, deb = _part({"package": package, "suite": suite, "series": series})
    _unpacked(deb, Path(into))
    return version, f"Debian {suite} {package} {stanza['Version']}"


def _part(spec):
    stanza = _package(spec["suite"], spec["package"])
    version = upstream_version(stanza["Version"])
    if not version.startswith(spec["series"] + "."):
        raise system.LabError(f"Debian {spec['suite']} now has {spec['package']} {stanza['Version']}, not "
                              f"{spec['series']}.x; set the series in kub_lab/releases.py to what the lab should serve")
    return stanza, version, _fetch_deb(stanza)


# ---- the release files ----------------------------------------------------------------------------------

def _sha256_line(path):
    return f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"


def _tarball(out, members):
    """members: [(name in tar, file)]; root-owned, fixed mtime, like the upstream layout."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs = sorted({str(Path(name).parent) for name, _ in members})
        for d in dirs:
            info = tarfile.TarInfo(d + "/")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, TAR_MTIME
            tar.addfile(info)
        for name, path in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o755, TAR_MTIME
            with open(path, "rb") as f:
                tar.addfile(info, f)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(raw.getvalue(), compresslevel=6, mtime=0))


def _build(root):
    c_stanza, c_version, c_deb = _part(CONTAINERD)
    r_stanza, r_version, r_deb = _part(RUNC)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        c_tree = _unpacked(c_deb, work / "containerd")
        members = [(dest, c_tree / src) for src, dest in CONTAINERD["binaries"].items() if (c_tree / src).is_file()]
        missing = set(CONTAINERD["required"]) - {name for name, _ in members}
        if missing:
            raise system.LabError(f"{c_deb.name} lacks {', '.join(sorted(missing))}; check CONTAINERD in "
                                  "kub_lab/releases.py")
        tarball_rel, sum_rel = containerd_paths(c_version)
        tarball = root / tarball_rel
        _tarball(tarball, members)
        (root / sum_rel).write_text(_sha256_line(tarball))

        r_tree = _unpacked(r_deb, work / "runc")
        runc_rel, runc_sum_rel = runc_paths(r_version)
        runc = root / runc_rel
        runc.parent.mkdir(parents=True, exist_ok=True)
        _runc_application(runc, r_tree / RUNC["binary"])
        (root / runc_sum_rel).write_text(_sha256_line(runc))

    e_version, e_from = _etcd_image(root)
    # the same binaries as etcd's release publishes them, for the tools kub runs at the cluster's etcd version
    tarball_rel, sums_rel = etcd_release_paths(e_version)
    top = f"etcd-v{e_version}-linux-{ARCH}"
    image = root / etcd_image_path(e_version)
    _tarball(root / tarball_rel, [(f"{top}/{name}", image / name) for name in ("etcd", "etcdctl", "etcdutl")])
    (root / sums_rel).write_text(_sha256_line(root / tarball_rel))
    unit = root / unit_path(c_version)
    unit.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(UNIT, unit)
    (root / "versions.json").write_text(json.dumps({
        "containerd": c_version, "runc": r_version, "arch": ARCH,
        "containerd_from": f"Debian {CONTAINERD['suite']} {c_stanza['Package']} {c_stanza['Version']}",
        "runc_from": f"Debian {RUNC['suite']} {r_stanza['Package']} {r_stanza['Version']}",
        "etcd": e_version, "etcd_from": e_from,
    }, indent=1) + "\n")


def _runc_application(out, binary):
    """runc as a Python zip application: runc_main.py and Debian's binary, stored (fixed dates: the same inputs
    give the same file and checksum)."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as archive:
        for name, data in (("__main__.py", RUNC_MAIN.read_bytes()), ("runc", binary.read_bytes())):
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    out.write_bytes(b"#!/usr/bin/python3\n" + raw.getvalue())
    out.chmod(0o755)


def _etcd_image(root):
    """The etcd image's binaries (etcd, etcdutl, etcdctl) out of Debian's packages; (version, where from)."""
    found = []
    with tempfile.TemporaryDirectory() as work:
        for package, binaries in ETCD["binaries"].items():
            stanza, version, deb = _part({"package": package, "suite": ETCD["suite"], "series": ETCD["series"]})
            found.append((version, f"{package} {stanza['Version']}"))
            tree = _unpacked(deb, Path(work) / package)
            for binary in binaries:
                dest = root / etcd_image_path(version) / Path(binary).name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tree / binary, dest)
                dest.chmod(0o755)
    if len({v for v, _ in found}) != 1:
        raise system.LabError(f"Debian {ETCD['suite']}'s etcd packages differ in version ({found}); try again later")
    return found[0][0], f"Debian {ETCD['suite']} " + ", ".join(f for _, f in found)


if __name__ == "__main__":
    print(ensure_releases())
