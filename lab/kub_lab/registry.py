"""The lab's image registry: Debian's docker-registry (the distribution registry, 2.8) on the lab bridge, port 5000,
serving OCI images built on this machine from Debian's busybox-static with umoci and pushed with skopeo.

Hosts pull through containerd's registry mirrors (kub's registry_mirrors: `Lab.inputs()` points registry.k8s.io and
docker.io at it), so an image's repository here is its name without the registry:

    registry.k8s.io/pause:3.10 (3.8, 3.6)  pause:3.10         the pod sandbox image (`sleep infinity`)
    docker.io/kublab/web:1.0 (and 1.1)  kublab/web:1.0        a web server answering HTTP on port 80 (busybox httpd)
    docker.io/kublab/busybox:1.35       kublab/busybox:1.35   busybox's commands (sh, true, sleep, ...) for Jobs

Built once into /var/cache/kub-lab/registry-<recipe hash> (the registry's binary, its storage with the images, and
images.json), shared by every lab: each lab's registry serves that storage read-only.

    ensure_registry() -> Path        the directory above, built if needed
    config(directory, address) -> str   the registry's configuration for a lab's bridge address
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from kub_lab import releases, system

CACHE_DIR = releases.CACHE_DIR
PORT = 5000
REGISTRY = {"package": "docker-registry", "suite": "bookworm", "series": "2.8", "binary": "usr/bin/docker-registry"}
BUSYBOX = {"package": "busybox-static", "suite": "bookworm", "series": "1.35", "binary": "bin/busybox"}
WEB_PAGE = "<html><body><h1>kub lab web {version}</h1><p>busybox httpd in a container</p></body></html>\n"
# PID 1 of a container that serves until SIGTERM, and then ends (as the real pause and nginx do; a PID 1 without a
# handler would ignore the signal and wait for the kill)
UNTIL_TERM = "trap 'exit 0' TERM; {} & wait"
# repository:tag -> the image: busybox with its applets in /bin (PATH), its own files, and what it runs
PAUSE = {"entrypoint": ["/bin/sh", "-c", UNTIL_TERM.format("sleep infinity")]}
IMAGES = {
    # kubeadm's (3.10, which kub configures containerd with), and the defaults of Debian's containerd packages
    # (1.6: 3.6, 1.7: 3.8), which clusters made by hand with them keep
    "pause:3.10": PAUSE, "pause:3.8": PAUSE, "pause:3.6": PAUSE,
    "kublab/web:1.0": {"files": {"www/index.html": WEB_PAGE.format(version="1.0")}, "ports": ["80/tcp"],
                       "entrypoint": ["/bin/sh", "-c", UNTIL_TERM.format("httpd -f -p 80 -h /www")]},
    "kublab/web:1.1": {"files": {"www/index.html": WEB_PAGE.format(version="1.1")}, "ports": ["80/tcp"],
                       "entrypoint": ["/bin/sh", "-c", UNTIL_TERM.format("httpd -f -p 80 -h /www")]},
    "kublab/busybox:1.35": {"cmd": ["sh"]},
}
# the names the hosts use for them, through the lab's mirrors
IMAGE_NAMES = {"pause": "registry.k8s.io/pause:3.10", "web": "docker.io/kublab/web:1.0",
               "web-next": "docker.io/kublab/web:1.1", "busybox": "docker.io/kublab/busybox:1.35"}
TOOLS = ("umoci", "skopeo")


def recipe():
    return {"registry": REGISTRY, "busybox": BUSYBOX, "images": IMAGES, "mirror": releases.MIRROR, "format": 1}


def registry_path():
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]
    return CACHE_DIR / f"registry-{digest}"


def config(directory, address):
    """docker-registry's configuration: the built storage, read-only, at address (host:port)."""
    return (f"version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {directory}/storage}}\n"
            f"  maintenance: {{readonly: {{enabled: true}}, uploadpurging: {{enabled: false}}}}\n"
            f"http: {{addr: '{address}'}}\n")


def binary(directory):
    return Path(directory) / "bin" / "docker-registry"


def ensure_registry(log=sys.stderr):
    """The registry's directory; built once (one builder at a time, others wait)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing and not (registry_path() / "images.json").is_file():
        raise system.LabError(f"{' and '.join(missing)} not found: the lab builds its images with them "
                              f"(apt-get install {' '.join(missing)}, or make deps)")
    return system.built_once(registry_path(), "images.json", "registry", "the image registry", _build, log)


def _build(root):
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        made = {}
        for part in (REGISTRY, BUSYBOX):
            version, origin = releases.debian_package(part["package"], part["suite"], part["series"],
                                                      work / part["package"])
            target = root / "bin" / Path(part["binary"]).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / part["package"] / part["binary"], target)
            target.chmod(0o755)
            made[part["package"]] = origin
        layout = work / "oci"
        _run(["umoci", "init", "--layout", str(layout)])
        for name, image in IMAGES.items():
            _image(layout, name, image, root / "bin" / "busybox", work / "bundle")
        _push(root, layout)
    (root / "bin" / "busybox").unlink()
    (root / "images.json").write_text(json.dumps({"images": sorted(IMAGES), "from": made}, indent=1) + "\n")


def _image(layout, name, image, busybox, bundle):
    ref = f"{layout}:{_tag(name)}"
    _run(["umoci", "new", "--image", ref])
    _run(["umoci", "unpack", "--image", ref, str(bundle)])
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir()
    shutil.copyfile(busybox, rootfs / "bin" / "busybox")
    (rootfs / "bin" / "busybox").chmod(0o755)
    for applet in _run([str(busybox), "--list"]).split():
        if applet != "busybox":
            (rootfs / "bin" / applet).symlink_to("busybox")
    for path, text in image.get("files", {}).items():
        (rootfs / path).parent.mkdir(parents=True, exist_ok=True)
        (rootfs / path).write_text(text)
    _run(["umoci", "repack", "--image", ref, str(bundle)])
    shutil.rmtree(bundle)
    argv = ["umoci", "config", "--image", ref, "--os", "linux", "--architecture", releases.ARCH,
            "--config.env", "PATH=/bin"]
    for option in ("entrypoint", "cmd"):
        for word in image.get(option, []):
            argv += [f"--config.{option}", word]
    for port in image.get("ports", []):
        argv += ["--config.exposedports", port]
    _run(argv)


def _tag(name):
    """A layout tag for repository:tag (umoci's tags take no '/' or ':')."""
    return name.replace("/", "-").replace(":", "_")


def _push(root, layout):
    """Every image into the registry's storage, through a registry of its own on this machine's loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = "127.0.0.1:%d" % probe.getsockname()[1]
    writable = config(root, address).replace("enabled: true", "enabled: false")
    (root / "build.yml").write_text(writable)
    server = subprocess.Popen([str(binary(root)), "serve", str(root / "build.yml")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
    try:
        if not system.wait_until(lambda: _answers(address) or server.poll() is not None, timeout=15):
            raise system.LabError(f"docker-registry did not answer on {address} within 15 s")
        for name in IMAGES:
            _run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{_tag(name)}",
                  f"docker://{address}/{name}"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
        (root / "build.yml").unlink()


def _answers(address):
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
        return True
    except OSError:
        return False


def _run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise system.LabError(f"{' '.join(argv[:2])} failed building the lab's images: "
                              f"{(p.stderr or p.stdout).strip().splitlines()[-1:]}")
    return p.stdout


if __name__ == "__main__":
    print(ensure_registry())
