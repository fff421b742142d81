"""Debian 13 hosts, with the distribution's own containerd (1.7): fine for Kubernetes 1.35, the last minor
that supports containerd 1.x, and refused for 1.36 and later."""
import json

import pytest
from e2e_support import assert_refused, cluster_inputs
from lab_indexes import SECOND_LAB_INDEX

pytestmark = pytest.mark.lab
HOSTS = (1, 2)


@pytest.fixture(scope="module")
def trixie():
    """A second lab, of Debian 13 hosts."""
    from kub_lab.lab import Lab
    lab = Lab(index=SECOND_LAB_INDEX)
    lab.down()
    lab.up(len(HOSTS), fresh=True, release="trixie")
    yield lab
    lab.down()


def test_the_os_containerd_of_debian_13_is_refused_for_1_36(trixie, new_cfy):
    assert_refused(trixie, new_cfy, cluster_inputs(trixie, master=1, minions=(2,), containerd_source="os"),
                   f"{trixie.host_ip(1)}: debian 13 ships containerd 1.7, and Kubernetes 1.36 needs containerd 2.0 "
                   f"or newer: set containerd_source: release", hosts=HOSTS)


def test_1_35_installs_with_the_os_containerd_of_debian_13(trixie, new_cfy):
    """The minion has Debian's docker.io (and with it containerd) before kub, and a registry config_path in
    Debian's containerd config: both stay through an install and an uninstall that purges the packages."""
    docker_host = 2
    trixie.exec(docker_host, "apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y "
                             "--no-install-recommends docker.io", timeout=900)
    trixie.exec(docker_host, "printf '\\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\\n  config_path = "
                             "\"/etc/containerd/certs.d\"\\n' >> /etc/containerd/config.toml")
    own_config = trixie.exec(docker_host, "cat /etc/containerd/config.toml").stdout
    assert 'config_path = "/etc/containerd/certs.d"' in own_config
    packages_before = trixie.exec(docker_host, PACKAGES).stdout
    cfy = new_cfy()
    cfy.init(cluster_inputs(trixie, master=1, minions=(2,), containerd_source="os", kubernetes_version="1.35",
                            local_kubeconfig_path=str(cfy.workdir / "admin.conf"), purge_packages=True))
    cfy.install()
    # containerd 1.7 replaces a whole plugin section with an import's: kub merged its settings into the host's
    dumped = trixie.exec(docker_host, "containerd config dump").stdout
    assert 'config_path = "/etc/containerd/certs.d"' in dumped and "SystemdCgroup = true" in dumped
    listing = json.loads(trixie.exec(1, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json").stdout)
    ready = {n["metadata"]["name"]: [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
             for n in listing["items"]}
    assert ready == {"kubh1": "True", "kubh2": "True"}
    for i in HOSTS:
        assert trixie.exec(i, "containerd --version").stdout.split()[2].startswith("1.7."), i
        assert trixie.exec(i, "kubelet --version").stdout.startswith("Kubernetes v1.35."), i
        assert trixie.exec(i, ". /etc/os-release; echo $VERSION_ID").stdout == "13\n"
    # an upgrade to 1.36 needs containerd 2, which Debian 13's is not: refused before any change, naming the fix
    refused = cfy.execute("kub_upgrade", {"kubernetes_version": "1.36"}, check=False, options=("--task-retries", "0"))
    assert refused.returncode != 0
    assert (f"{trixie.host_ip(1)}: Kubernetes 1.36 needs containerd 2.0 or newer, which the OS's packages do not "
            f"give: set containerd_source: release") in refused.stdout, refused.stdout[-2000:]
    assert all(trixie.exec(i, "kubelet --version").stdout.startswith("Kubernetes v1.35.") for i in HOSTS)
    # on the master, docker.io comes after kub, and takes the containerd kub installed
    trixie.exec(1, "DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends docker.io",
                timeout=900)
    out = cfy.uninstall().stdout
    # docker.io, Debian's containerd and every other package the host had stay, with the host's own config;
    # what kub installed is gone
    assert (f"[{trixie.host_ip(docker_host)}] left containerd: installed before kub installed anything"
            in out), out[-3000:]
    assert trixie.exec(docker_host, PACKAGES).stdout == packages_before
    assert trixie.exec(docker_host, "cat /etc/containerd/config.toml").stdout == own_config
    assert trixie.exec(docker_host, "ls /etc/containerd").stdout == "config.toml\n"
    # the master: what kub installed is purged, but for what docker.io needs
    needed = [line for line in out.splitlines() if line.endswith(": other installed packages depend on them")]
    assert len(needed) == 1 and f"[{trixie.host_ip(1)}] left " in needed[0], out[-3000:]
    assert "containerd (needed by docker.io)" in needed[0]
    master = trixie.exec(1, PACKAGES).stdout
    assert " docker.io " in master and " containerd " in master and " kubeadm " not in master, (
        [line for line in out.splitlines() if f"[{trixie.host_ip(1)}]" in line][-6:])
    assert f"[{trixie.host_ip(1)}] reset: " in out and "purged " in out


# every installed package with its version
PACKAGES = "dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n' | awk '$1 ~ /^.i/'"
