"""The lab's apt repository, laid out like pkgs.k8s.io, holding the stand-in Kubernetes packages.

Contract used by the lab service:
    ensure_repository() -> pathlib.Path
        A directory whose tree is `core:/stable:/v1.NN/deb/` for each minor version in MINORS, each with
        Packages, Release, Release.gpg, InRelease (signed by the lab GPG key), Release.key (that key's public
        part, ASCII armored) and the .deb files. Built once into a cache outside the checkout and rebuilt
        only when the stand-in sources change.

Hosts use it exactly like the real repository:
    curl -fsSL http://<lab>:3142/core:/stable:/v1.31/deb/Release.key \
        | gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
    deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] http://<lab>:3142/core:/stable:/v1.31/deb/ /
"""
import contextlib
import gzip
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile
import zipfile

from kub_lab import system

STANDINS = pathlib.Path(__file__).resolve().parent.parent / "standins"
CACHE = pathlib.Path(os.environ.get("KUB_LAB_CACHE", "/var/cache/kub-lab"))
CNI_MANIFEST = str(STANDINS / "cni" / "kube-flannel-lab.yml")

# minor -> Kubernetes patch versions (two in 1.31 so "latest patch" selection can be tested) and the
# versions of the companion packages that upstream publishes in the same repository
MINORS = {
    "1.30": {"kubernetes": ["1.30.6"], "cri-tools": "1.30.1", "kubernetes-cni": "1.4.0"},
    "1.31": {"kubernetes": ["1.31.1", "1.31.2"], "cri-tools": "1.31.1", "kubernetes-cni": "1.5.1"},
}
ARCHES = ("amd64", "arm64")
REVISION = "-1.1"  # upstream's Debian revision on pkgs.k8s.io
MAINTAINER = "Kubernetes Authors <dev@kubernetes.io>"
PYTHON_DEPS = "python3, python3-yaml, openssl"
CNI_PLUGINS = ("bandwidth", "bridge", "dhcp", "firewall", "host-device", "host-local", "ipvlan", "loopback",
               "macvlan", "portmap", "ptp", "sbr", "static", "tuning", "vlan", "vrf")
IMAGE_PROGRAMS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
ZIP_TIME = (2024, 10, 22, 0, 0, 0)


def sources_digest():
    """Hash of every stand-in source file and of this builder: a change rebuilds the repository."""
    h = hashlib.sha256()
    files = sorted(p for p in STANDINS.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for p in files + [pathlib.Path(__file__).resolve()]:
        h.update(str(p.relative_to(STANDINS.parent)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def ensure_repository():
    """Build the repository once per sources digest (flock + temp dir + rename); return its directory."""
    target = CACHE / ("repo-" + sources_digest())
    if (target / ".complete").exists():
        return target
    with system.flock(CACHE / "repo.lock"):
        if (target / ".complete").exists():
            return target
        key = _ensure_gpg_key()
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=".repo-build-", dir=CACHE))
        try:
            _build(tmp, key)
            (tmp / ".complete").write_text("ok\n")
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


# ---- signing key ------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _gnupg_home():
    """A throw-away GNUPGHOME; its agent is stopped before the directory goes away."""
    home = tempfile.mkdtemp(prefix="kub-lab-gpg-")
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _gpg(home, *args, data=None):
    p = subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback",
                        "--passphrase", ""] + list(args), input=data, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("gpg %s failed: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout


def _ensure_gpg_key():
    """The lab's repository key, made once and kept in the cache: (secret armored, public armored)."""
    keydir = CACHE / "gpg"
    sec, pub = keydir / "secret.asc", keydir / "public.asc"
    if not (sec.exists() and pub.exists()):
        keydir.mkdir(parents=True, exist_ok=True)
        with _gnupg_home() as home:
            params = ("Key-Type: RSA\nKey-Length: 3072\nKey-Usage: sign\nName-Real: kub lab package repository\n"
                      "Name-Email: lab@kub.invalid\nExpire-Date: 0\n%no-protection\n%commit\n")
            _gpg(home, "--gen-key", data=params.encode())
            secret = _gpg(home, "--armor", "--export-secret-keys")
            public = _gpg(home, "--armor", "--export")
        tmp = keydir / "secret.asc.tmp"
        tmp.write_bytes(secret)
        os.chmod(tmp, 0o600)
        os.replace(tmp, sec)
        pub.write_bytes(public)
    return sec.read_bytes(), pub.read_bytes()


# ---- packages --------------------------------------------------------------------------------------------

def _zipapp(path, version):
    """One executable archive holding the whole `kube` package, with this build's version."""
    src = STANDINS / "kube"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"#!/usr/bin/python3\n")
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            def add(name, data):
                info = zipfile.ZipInfo(name, ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                z.writestr(info, data)
            for p in sorted(src.glob("*.py")):
                data = p.read_bytes()
                if p.name == "version.py":
                    data = b'"""Version of this build."""\nVERSION = "%s"\n' % version.encode()
                add("kube/" + p.name, data)
            add("__main__.py", b"from kube.main import main\n\nmain()\n")
    os.chmod(path, 0o755)


def _control(pkg, version, arch, depends, description):
    size = 0
    return ("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nInstalled-Size: %d\nDepends: %s\n"
            "Section: admin\nPriority: optional\nHomepage: https://kubernetes.io\nDescription: %s\n"
            % (pkg, version, arch, MAINTAINER, size, depends, description))


def _deb(out_dir, pkg, version, arch, depends, description, files, scripts=None):
    """files: {path in package: bytes | ('symlink', target) | ('dir',)}; scripts: {postinst: text}."""
    with tempfile.TemporaryDirectory() as root:
        r = pathlib.Path(root)
        total = 0
        for rel, content in files.items():
            dest = r / rel.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, tuple) and content[0] == "symlink":
                os.symlink(content[1], dest)
            elif isinstance(content, tuple) and content[0] == "dir":
                dest.mkdir(parents=True, exist_ok=True)
            elif isinstance(content, pathlib.Path):
                shutil.copyfile(content, dest)
                os.chmod(dest, 0o755)
                total += dest.stat().st_size
            else:
                dest.write_bytes(content)
                os.chmod(dest, 0o644)
                total += len(content)
        debian = r / "DEBIAN"
        debian.mkdir()
        (debian / "control").write_text(_control(pkg, version, arch, depends, description).replace(
            "Installed-Size: 0", "Installed-Size: %d" % max(1, total // 1024)))
        for name, text in (scripts or {}).items():
            (debian / name).write_text(text)
            os.chmod(debian / name, 0o755)
        out = out_dir / arch / ("%s_%s_%s.deb" % (pkg, version, arch))
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(r), str(out)],
                       check=True, capture_output=True)


def _build_minor(deb_dir, minor, spec, work):
    pk = STANDINS / "packaging"
    kubelet_files_common = {
        "/usr/lib/systemd/system/kubelet.service": (pk / "kubelet.service").read_bytes(),
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": (pk / "10-kubeadm.conf").read_bytes(),
        "/etc/kubernetes/manifests": ("dir",),
    }
    scripts = {n: (pk / ("kubelet." + n)).read_text() for n in ("postinst", "prerm", "postrm")}
    for version in spec["kubernetes"]:
        app = work / version / "app.pyz"
        _zipapp(app, version)
        deb_version = version + REVISION
        for arch in ARCHES:
            _deb(deb_dir, "kubeadm", deb_version, arch,
                 "kubelet (>= %s.0), kubectl (>= %s.0), cri-tools (>= %s.0), kubernetes-cni (>= 1.2.0), %s"
                 % (minor, minor, minor, PYTHON_DEPS),
                 "Command-line utility for administering a Kubernetes cluster",
                 {"/usr/bin/kubeadm": app})
            files = dict(kubelet_files_common)
            files["/usr/bin/kubelet"] = app
            for prog in IMAGE_PROGRAMS:
                files["/usr/libexec/kubernetes/images/" + prog] = ("symlink", "/usr/bin/kubelet")
            _deb(deb_dir, "kubelet", deb_version, arch,
                 "iptables (>= 1.4.21), kubernetes-cni (>= 1.2.0), iproute2, socat, util-linux, mount, ebtables, "
                 "ethtool, conntrack, " + PYTHON_DEPS,
                 "Node agent for Kubernetes clusters", files, scripts)
            _deb(deb_dir, "kubectl", deb_version, arch, PYTHON_DEPS,
                 "Command-line utility for interacting with a Kubernetes cluster", {"/usr/bin/kubectl": app})
    newest = work / spec["kubernetes"][-1] / "app.pyz"
    for arch in ARCHES:
        _deb(deb_dir, "cri-tools", spec["cri-tools"] + REVISION, arch, "python3",
             "Command-line utility for interacting with a container runtime", {"/usr/bin/crictl": newest})
        _deb(deb_dir, "kubernetes-cni", spec["kubernetes-cni"] + REVISION, arch, "containernetworking-plugins",
             "Binaries required to provision kubernetes container networking",
             {"/opt/cni/bin/" + p: ("symlink", "/usr/lib/cni/" + p) for p in CNI_PLUGINS})


def _build(root, key):
    secret, public = key
    with _gnupg_home() as home:
        _gpg(home, "--import", data=secret)
        for minor, spec in MINORS.items():
            deb_dir = root / ("core:/stable:/v%s/deb" % minor)
            deb_dir.mkdir(parents=True)
            with tempfile.TemporaryDirectory() as work:
                _build_minor(deb_dir, minor, spec, pathlib.Path(work))
            packages = subprocess.run(["apt-ftparchive", "packages", "."], cwd=deb_dir, check=True,
                                      capture_output=True).stdout
            (deb_dir / "Packages").write_bytes(packages)
            (deb_dir / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
            release = subprocess.run(
                ["apt-ftparchive",
                 "-o", "APT::FTPArchive::Release::Origin=obs://build.opensuse.org/isv:kubernetes:core:stable:v%s/deb"
                 % minor,
                 "-o", "APT::FTPArchive::Release::Label=isv:kubernetes:core:stable:v%s" % minor,
                 "-o", "APT::FTPArchive::Release::Architectures=%s" % " ".join(ARCHES),
                 "release", "."], cwd=deb_dir, check=True, capture_output=True).stdout
            (deb_dir / "Release").write_bytes(release)
            (deb_dir / "InRelease").write_bytes(_gpg(home, "--clearsign", "--digest-algo", "SHA256",
                                                     "--output", "-", str(deb_dir / "Release")))
            (deb_dir / "Release.gpg").write_bytes(_gpg(home, "--armor", "--detach-sign", "--digest-algo", "SHA256",
                                                       "--output", "-", str(deb_dir / "Release")))
            (deb_dir / "Release.key").write_bytes(public)


def package_versions(minor):
    """Debian versions of kubeadm/kubelet/kubectl offered for a minor, oldest first."""
    return [v + REVISION for v in MINORS[minor]["kubernetes"]]
