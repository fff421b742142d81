"""What the lab provides for a current Kubernetes: containerd 2 and runc at their upstream release paths
(built from Debian's real packages), the inputs pointing at them, and Debian 13 (trixie) hosts."""
import hashlib
import http.client
import io
import subprocess
import sys
import tarfile
import threading
import urllib.error
import urllib.request
import zipfile

import pytest
from lab_indexes import SECOND_LAB_INDEX

from kub_lab import releases
from kub_lab.lab import CONTAINERD_INPUTS, Lab
from kub_lab.service import LabServer

pytestmark = pytest.mark.lab

# a second lab for the trixie hosts: the session's lab stays Debian 12
TRIXIE_INDEX = SECOND_LAB_INDEX

INSTALL = r"""
set -eu
cd /tmp
curl -fsSLO "{containerd_url}"
curl -fsSLO "{containerd_url}.sha256sum"
sha256sum -c "$(basename "{containerd_url}").sha256sum"
tar -C /usr/local -xzf "$(basename "{containerd_url}")"
curl -fsSLO "{runc_url}"
curl -fsSLO "$(dirname "{runc_url}")/runc.sha256sum"
sha256sum -c runc.sha256sum
install -m 755 "$(basename "{runc_url}")" /usr/local/sbin/runc
mkdir -p /usr/local/lib/systemd/system /etc/containerd
curl -fsSL "{unit_url}" -o /usr/local/lib/systemd/system/containerd.service
containerd config default > /etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
systemctl daemon-reload
systemctl enable --now containerd
"""


def urls(inputs):
    version, runc_version = inputs["containerd_version"], inputs["runc_version"]
    return {"containerd_url": inputs["containerd_url"].format(version=version, arch="amd64"),
            "runc_url": inputs["runc_url"].format(runc_version=runc_version, arch="amd64"),
            "unit_url": inputs["containerd_unit_url"].format(version=version)}


def get(url):
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def install_and_check(lab, i):
    """Install containerd and runc from the lab's release files on host i; check what upstream's docs check."""
    inputs = lab.inputs()
    p = lab.exec(i, ["bash", "-c", INSTALL.format(**urls(inputs))], check=False, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"containerd-{inputs['containerd_version']}-linux-amd64.tar.gz: OK" in p.stdout
    assert "runc.amd64: OK" in p.stdout
    config = lab.exec(i, "cat /etc/containerd/config.toml").stdout
    assert config.splitlines()[0] == "version = 3"
    assert "SystemdCgroup = true" in config
    assert lab.exec(i, "systemctl is-active containerd").stdout.strip() == "active"
    version = lab.exec(i, "ctr version").stdout
    assert f"Version:  {inputs['containerd_version']}" in version.split("Server:")[1]
    assert version.split("Server:")[1].split("Version:")[1].split()[0].startswith("2.1.")
    plugins = lab.exec(i, "ctr plugins ls").stdout
    assert any(line.split()[:2] == ["io.containerd.grpc.v1", "cri"] and line.split()[-1] == "ok"
               for line in plugins.splitlines())
    runc = lab.exec(i, "runc --version").stdout
    assert runc.startswith(f"runc version {inputs['runc_version']}")
    assert lab.exec(i, "runc list").stdout.split()[:2] == ["ID", "PID"]
    # a checksum that does not match is refused by the same check
    bad = lab.exec(i, "cd /tmp && sed -i 's/^./0/' runc.sha256sum && sed -i 's/^0/1/' runc.sha256sum && "
                      "sha256sum -c runc.sha256sum", check=False)
    assert bad.returncode == 1 and "FAILED" in bad.stdout


def test_inputs_give_containerd_release_urls(lab):
    inputs = lab.inputs()
    service = lab.service_url
    assert {k: inputs[k] for k in CONTAINERD_INPUTS} == {
        "allow_cgroup_v1": True,
        "containerd_source": "release",
        "containerd_version": inputs["containerd_version"],
        "runc_version": inputs["runc_version"],
        "containerd_url": service + "/github.com/containerd/containerd/releases/download/v{version}/"
                                    "containerd-{version}-linux-{arch}.tar.gz",
        "runc_url": service + "/github.com/opencontainers/runc/releases/download/v{runc_version}/runc.{arch}",
        "containerd_unit_url": service + "/raw.githubusercontent.com/containerd/containerd/v{version}/"
                                         "containerd.service",
    }
    assert inputs["containerd_version"].startswith("2.1.") and inputs["runc_version"].startswith("1.1.")
    assert inputs["kubernetes_version"] == "1.36"
    cli = subprocess.run([sys.executable, "-m", "kub_lab.cli", "--index", str(lab.index), "inputs"],
                         capture_output=True, text=True, timeout=60)
    assert "containerd_source: release\n" in cli.stdout and "allow_cgroup_v1: true\n" in cli.stdout

    u = urls(inputs)
    tarball = get(u["containerd_url"])
    digest, name = get(u["containerd_url"] + ".sha256sum").decode().split()
    assert name == f"containerd-{inputs['containerd_version']}-linux-amd64.tar.gz"
    assert hashlib.sha256(tarball).hexdigest() == digest
    runc = get(u["runc_url"])
    # a Python zip application holding Debian's runc binary (the lab's oom_score_adj clamp: kub_lab/releases.py)
    assert runc.startswith(b"#!/usr/bin/python3\n")
    with zipfile.ZipFile(io.BytesIO(runc)) as archive:
        assert sorted(archive.namelist()) == ["__main__.py", "runc"] and archive.read("runc")[:4] == b"\x7fELF"
    lines = get(u["runc_url"].rsplit("/", 1)[0] + "/runc.sha256sum").decode().splitlines()
    assert f"{hashlib.sha256(runc).hexdigest()}  runc.amd64" in lines
    assert b"ExecStart=/usr/local/bin/containerd\n" in get(u["unit_url"])
    with pytest.raises(urllib.error.HTTPError) as e:
        get(u["containerd_url"].replace(inputs["containerd_version"], "9.9.9"))
    assert e.value.code == 404


def test_containerd_release_installs_and_runs_on_debian_12(lab, pristine_hosts):
    try:
        install_and_check(lab, 4)
    finally:
        pristine_hosts(4)


def test_up_refuses_an_unknown_release():
    result = subprocess.run([sys.executable, "-m", "kub_lab.cli", "--index", str(TRIXIE_INDEX), "up", "1",
                             "--release", "2=buster"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kub-lab: Debian release 'buster' is not one the lab builds; use one of bookworm, trixie"]
    assert not Lab(TRIXIE_INDEX).is_up()


@pytest.fixture(scope="module")
def trixie_lab():
    lab = Lab(TRIXIE_INDEX)
    lab.down()
    lab.up(2, fresh=True, releases={2: "trixie"})
    try:
        yield lab
    finally:
        lab.down()


def test_trixie_hosts_per_host(trixie_lab):
    lab = trixie_lab
    assert lab.exec(1, "cat /etc/debian_version").stdout.startswith("12.")
    assert lab.exec(2, "cat /etc/debian_version").stdout.startswith("13.")
    assert 'VERSION_CODENAME=trixie' in lab.exec(2, "cat /etc/os-release").stdout
    assert (lab.host_release(1), lab.host_release(2)) == ("bookworm", "trixie")
    assert lab.status()["hosts"][2]["release"] == "trixie"
    assert lab.exec(2, "systemctl is-system-running", check=False).stdout.strip() == "running"
    assert lab.exec(2, "stat -fc %T /sys/fs/cgroup").stdout.strip() == "tmpfs"    # cgroup v1, as on Debian 12
    # apt goes through the lab's proxy to Debian's trixie archive: its containerd is 1.7
    lab.exec(2, "apt-get update -q", timeout=180)
    policy = lab.exec(2, "apt-cache policy containerd").stdout
    assert "Candidate: 1.7." in policy
    install_and_check(lab, 2)
    lab.wipe(2)   # a fresh disk on the same release
    assert lab.exec(2, "cat /etc/debian_version").stdout.startswith("13.")
    assert lab.exec(2, "test -e /usr/local/bin/containerd", check=False).returncode == 1


def test_service_serves_release_paths_only_from_the_releases_directory(tmp_path):
    """The service on its own (loopback): upstream-shaped paths come from --releases; nothing outside it."""

    tarball = tmp_path / "rel" / "github.com/containerd/containerd/releases/download/v2.1.9/c.tar.gz"
    tarball.parent.mkdir(parents=True)
    tarball.write_bytes(b"TAR")
    unit = tmp_path / "rel" / "raw.githubusercontent.com/containerd/containerd/v2.1.9/containerd.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Unit]\n")
    (tmp_path / "repo").mkdir()
    (tmp_path / "secret").write_text("no")

    def serve(releases):
        server = LabServer("127.0.0.1", 0, tmp_path / "cache", tmp_path / "repo", releases)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def get(server, path):
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()

    with_releases, without = serve(tmp_path / "rel"), serve(None)
    try:
        assert get(with_releases, "/github.com/containerd/containerd/releases/download/v2.1.9/c.tar.gz") == \
            (200, b"TAR")
        assert get(with_releases, "/raw.githubusercontent.com/containerd/containerd/v2.1.9/containerd.service") == \
            (200, b"[Unit]\n")
        assert get(with_releases, "/github.com/../../secret")[0] == 404
        assert get(with_releases, "/github.com/containerd/containerd/releases/download/v2.1.8/c.tar.gz")[0] == 404
        assert get(with_releases, "http://github.com/containerd/containerd/releases/download/v2.1.9/c.tar.gz")[0] \
            == 403   # a proxy request to the real site: hosts have no way out
        assert get(without, "/github.com/containerd/containerd/releases/download/v2.1.9/c.tar.gz")[0] == 404
    finally:
        for server in (with_releases, without):
            server.shutdown()
            server.server_close()


def test_etcds_release_is_served_as_etcd_publishes_it(lab):
    """etcd's release tarball (the binaries of the lab's etcd image) and its SHA256SUMS, at the path the lab's
    etcd_url input names, for kub's backups."""
    inputs = lab.inputs()
    version = releases.versions(releases.ensure_releases())["etcd"]
    url = inputs["etcd_url"].format(version=version, arch="amd64")
    tarball = get(url)
    sums = get(url.rsplit("/", 1)[0] + "/SHA256SUMS").decode().splitlines()
    assert f"{hashlib.sha256(tarball).hexdigest()}  etcd-v{version}-linux-amd64.tar.gz" in sums
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        names = tar.getnames()
    assert {f"etcd-v{version}-linux-amd64/{name}" for name in ("etcd", "etcdctl", "etcdutl")} <= set(names)


def test_every_minors_real_kubectl_is_served_as_dl_k8s_io_publishes_it(lab, tmp_path):
    """kubectl of each minor the repository serves, at the path the lab's kubectl_url names, its bare sha256 beside
    it and stable-<minor>.txt naming it: the real upstream build (it says so itself)."""
    from kub_lab import repo
    inputs = lab.kubeconfig_inputs(tmp_path / "config")
    from kub_lab.registry import IMAGE_NAMES
    assert inputs == {"kubeconfig_file": str(tmp_path / "config"), "kubectl_url": lab.kubectl_url,
                      "allow_plain_http": True, "web_image": IMAGE_NAMES["web"]}
    assert lab.kubectl_url == f"{lab.service_url}/dl.k8s.io/release/v{{version}}/bin/linux/{{arch}}/kubectl"
    for minor in repo.served_minors():
        release = get(f"{lab.service_url}/dl.k8s.io/release/stable-{minor}.txt").decode()
        assert release == repo.ensure_kubectl(minor)["gitVersion"] and release.startswith(f"v{minor}.")
        url = lab.kubectl_url.format(version=release[1:], arch="amd64")
        binary = get(url)
        assert get(f"{url}.sha256").decode() == hashlib.sha256(binary).hexdigest()
        path = tmp_path / f"kubectl-{minor}"
        path.write_bytes(binary)
        path.chmod(0o755)
        client = subprocess.run([str(path), "version", "--client", "-o", "json"], capture_output=True, text=True,
                                check=True).stdout
        assert f'"gitVersion": "{release}"' in client and '"gitTreeState": "clean"' in client
