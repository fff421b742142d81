"""kub embedded in another blueprint: two minion nodes installed at once (thread pool 8), then uninstalled
with purge_packages."""
import json
import re
from pathlib import Path

import pytest

from kub_lab.lab import CONTAINERD_INPUTS

pytestmark = pytest.mark.lab
HOSTS = (1, 2, 3)


@pytest.fixture(scope="module")
def embedded(lab, tmp_path_factory):
    from kub_lab.cfy import LocalCfy
    cfy = LocalCfy(tmp_path_factory.mktemp("embedded"), blueprint_id="shop",
                   blueprint=Path(__file__).parent / "data" / "embedded-blueprint.yaml")
    cfy.stage()
    lab_inputs = lab.inputs()
    cfy.init({
        "control_plane": lab.host_ip(1), "gpu_host": lab.host_ip(2), "cpu_hosts": [lab.host_ip(3)],
        "ssh": {"user": "kub", "private_key_path": lab_inputs["ssh_private_key_path"],
                "known_hosts_path": lab_inputs["ssh_known_hosts_path"]},
        "cluster": {"kubernetes_version": "1.35", "cni_manifest": lab_inputs["cni_manifest"],
                    **{key: lab_inputs[key] for key in CONTAINERD_INPUTS},
                    "package_repository_url": lab_inputs["package_repository_url"],
                    "package_repository_key_url": lab_inputs["package_repository_key_url"],
                    "allow_plain_http": lab_inputs["allow_plain_http"],
                    "purge_packages": True},
    })
    # the SSH user keeps a kubeconfig of their own on the master: kub must leave it alone
    lab.exec(1, "install -d -o kub -m 0700 ~kub/.kube && echo 'their own' > ~kub/.kube/config && "
                "chown kub ~kub/.kube/config")
    yield cfy
    for i in HOSTS:
        lab.wipe(i)


def test_two_minion_nodes_join_in_parallel(lab, embedded):
    out = embedded.install().stdout
    assert "does not match" not in out          # no node-instance version conflicts
    joins = [line for line in out.splitlines() if "kubeadm join: joined the cluster" in line]
    assert len(joins) == 2
    listing = json.loads(lab.exec(1, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json").stdout)
    versions = {item["metadata"]["name"]: item["status"]["nodeInfo"]["kubeletVersion"] for item in listing["items"]}
    assert set(versions) == {"kubh1", "kubh2", "kubh3"}
    assert set(v.rsplit(".", 1)[0] for v in versions.values()) == {"v1.35"}   # the minor asked for
    # both relationship operations ran at the same time
    join = "'kub_plugin.cfy.cluster_nodes.join_master'"
    starts = [line[:23] for line in out.splitlines() if f"Task started {join}" in line]
    ends = [line[:23] for line in out.splitlines() if f"Task succeeded {join}" in line]
    assert len(starts) == 2 and max(starts) < min(ends)
    # minions are prepared while the master is: their packages are in before the master's kubeadm init
    lines = out.splitlines()
    init = min(n for n, line in enumerate(lines) if f"[{lab.host_ip(1)}] kubeadm init" in line)
    for i in (2, 3):
        packages = min(n for n, line in enumerate(lines) if re.search(rf"\[{lab.host_ip(i)}\] Kubernetes [0-9.]+ "
                                                                      rf"packages: .*installed", line))
        assert packages < init, (i, lines[packages], lines[init])
    # the SSH user (a passwordless sudoer here) has kubectl on the master, beside their own kubeconfig
    assert f"[{lab.host_ip(1)}] kept kub's own /home/kub/.kube/config; kub's kubeconfig is " \
           f"/home/kub/.kube/kub-admin.conf" in out   # (the user is called kub)
    assert lab.exec(1, "cat ~kub/.kube/config").stdout == "their own\n"
    assert "kubh3" in lab.exec(1, "su - kub -c 'KUBECONFIG=~/.kube/kub-admin.conf kubectl get nodes'").stdout


def test_uninstall_with_purge_removes_packages_and_containerd(lab, embedded):
    embedded.uninstall()
    for i in HOSTS:
        left = lab.exec(i, "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' kubeadm kubelet kubectl "
                           "cri-tools kubernetes-cni containerd 2>/dev/null | awk '$2 ~ /^.i/'; "
                           "ls /etc/apt/sources.list.d/kubernetes.list /etc/containerd 2>/dev/null; true").stdout
        assert left == "", (i, left)
    # the user's own kubeconfig stays, kub's is gone
    assert lab.exec(1, "cat ~kub/.kube/config").stdout == "their own\n"
    assert "kub-admin.conf" not in lab.exec(1, "ls ~kub/.kube").stdout   # (kubectl's own cache/ may be there)
