"""Container images, as far as the stand-ins have them.

The control-plane images of Kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler) are the stand-in
programs the kubelet package ships under /usr/libexec/kubernetes/images. The etcd image is real: the etcd,
etcdctl and etcdutl binaries of its tag, pulled like an image from the lab's registry (the lab service, which
answers on the host's default gateway at REGISTRY_PORT) into the image store under /var/lib/containerd, where
a real runtime keeps what it pulled. Pulled once, kept across `kubeadm reset` as images are.
"""
import os
import subprocess
import urllib.error
import urllib.request

from kube import util

STANDIN_IMAGES_DIR = "/usr/libexec/kubernetes/images"
STORE = "/var/lib/containerd/io.containerd.content.v1.standin"
REGISTRY_PORT = 3142
PULLED = {"etcd": ("etcd", "etcdctl", "etcdutl")}   # repository -> the binaries its image holds
# the cluster add-ons whose programs the lab has no build of: their pods are stood in by the kubelet, not run
STOOD_IN = ("coredns", "kube-proxy", "flannel")


class PullError(Exception):
    pass


def parse(image):
    """registry.k8s.io/etcd:3.5.16-0 -> ("registry.k8s.io", "etcd", "3.5.16-0")."""
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    registry, _, repo = name.partition("/") if "/" in name else ("docker.io", "", name)
    return registry, repo, tag


def image_dir(image):
    registry, repo, tag = parse(image)
    return os.path.join(STORE, registry, repo, tag)


def registry_host():
    """The lab service: the host's default gateway."""
    out = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True).stdout.split()
    return out[out.index("via") + 1] if "via" in out else "127.0.0.1"


def pull(image):
    """Make image present; returns its directory (a pulled image) or the stand-in images' one. PullError with the
    runtime's words when the registry does not have it."""
    registry, repo, tag = parse(image)
    if repo.rsplit("/", 1)[-1] not in PULLED:
        return STANDIN_IMAGES_DIR
    target = image_dir(image)
    binaries = PULLED[repo.rsplit("/", 1)[-1]]
    if all(os.path.exists(os.path.join(target, b)) for b in binaries):
        return target
    base = "http://%s:%d/%s/%s/%s/" % (registry_host(), REGISTRY_PORT, registry, repo, tag)
    for binary in binaries:
        try:
            with urllib.request.urlopen(base + binary, timeout=60) as r:
                data = r.read()
        except urllib.error.HTTPError as e:
            raise PullError('rpc error: code = NotFound desc = failed to pull and unpack image "%s": failed to '
                            'resolve reference "%s": %s: not found' % (image, image, image)) from e
        except OSError as e:
            raise PullError('rpc error: code = Unknown desc = failed to pull and unpack image "%s": failed to '
                            'resolve reference "%s": failed to do request: Head "https://%s/v2/%s/manifests/%s": '
                            '%s' % (image, image, registry, repo, tag, getattr(e, "reason", e))) from e
        util.write_file(os.path.join(target, binary), data, 0o755)
    return target


def program(image, command):
    """The file a container of image runs for command (its argv[0]): a pulled image's binary of that name, else
    the stand-in program."""
    directory = pull(image)
    name = os.path.basename(command or "")
    if os.path.exists(os.path.join(directory, name)):
        return os.path.join(directory, name)
    return os.path.join(directory, parse(image)[1].rsplit("/", 1)[-1])


def stood_in(pod):
    """A pod of an add-on the lab stands in (every container's image one of STOOD_IN)."""
    images = [c.get("image", "") for c in (pod.get("spec") or {}).get("containers") or []]
    return bool(images) and all(parse(i)[1].rsplit("/", 1)[-1] in STOOD_IN for i in images)
