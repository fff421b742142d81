"""kub_backup and kub_restore with the real cfy CLI on lab hosts and the real etcd: a 1 master + 1 minion cluster
(hosts 1 and 2) with a Deployment is backed up (a verified archive, 0600 in a 0700 folder, no key in any log or
runtime property); after a ConfigMap is made and the Deployment deleted, a restore brings the cluster back to the
backup (the ConfigMap gone, the Deployment back, every node Ready); a dry run, a truncated archive and another
cluster's archive (host 3's) change nothing. Hosts 1-3 are wiped at the end."""
import json
import os
import stat
import tarfile

import pytest
from e2e_support import WEB, cluster_inputs, host_state

from kub_lab.cfy import LocalCfy

pytestmark = pytest.mark.lab
MASTER, MINION, OTHER = 1, 2, 3
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf "
OPTIONS = ("--task-retries", "0")
# etcd's data as a restore would change it (its member folder made anew; etcd itself writes inside it all along)
ETCD_DATA = "stat -c '%n %i' /var/lib/etcd/member 2>/dev/null; ls -A /var/lib/kub"


def installed(lab, tmp_path_factory, name, master, minions):
    cfy = LocalCfy(tmp_path_factory.mktemp(name), blueprint_id=name)
    cfy.stage()
    cfy.init(cluster_inputs(lab, master=master, minions=minions))
    cfy.install()
    return cfy


@pytest.fixture(scope="module")
def clusters(lab, tmp_path_factory):
    try:
        cluster = installed(lab, tmp_path_factory, "backup", MASTER, (MINION,))
        lab.exec(MASTER, f"{KUBECTL} apply -f - >/dev/null", input=WEB)
        other = installed(lab, tmp_path_factory, "other", OTHER, ())
        folder = tmp_path_factory.mktemp("archives") / "kub"   # made by kub_backup
        yield cluster, other, folder
    finally:
        for i in (MASTER, MINION, OTHER):
            lab.wipe(i)


def kub(cfy, workflow, check=True, **params):
    result = cfy.execute(workflow, params, check=check, options=OPTIONS)
    return result.stdout if check else result


def state(lab):
    return {i: host_state(lab, i) + lab.exec(i, ETCD_DATA + "; ls /etc/kubernetes/manifests").stdout
            for i in (MASTER, MINION)}


def test_a_backup_is_verified_and_kept_for_its_owner_alone(lab, clusters):
    cluster, other, folder = clusters
    path = folder / "cluster.tar.gz"
    out = kub(cluster, "kub_backup", path=str(path))
    assert f"backup {path}: {os.path.getsize(path)} bytes, etcd revision " in out, out[-3000:]
    assert "taken from " + lab.host_ip(MASTER) + " and verified" in out
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    with tarfile.open(path) as archive:
        meta = json.loads(archive.extractfile("kub-backup.json").read())
        key = archive.extractfile("pki/ca.key").read().decode()
        assert {"snapshot.db", "pki/sa.key", "pki/etcd/ca.key", "pki/front-proxy-ca.key"} <= set(archive.getnames())
    assert meta["cluster_id"] == cluster.outputs()["cluster_id"] and meta["revision"] > 0
    secret_line = key.strip().splitlines()[1]   # a line of the CA's private key
    assert secret_line not in out
    assert secret_line not in json.dumps(cluster.node_instances())
    assert lab.exec(MASTER, "ls /var/lib/kub/backup 2>/dev/null; true").stdout == ""   # nothing left on the master
    kub(other, "kub_backup", path=str(folder / "other.tar.gz"))


def test_a_dry_run_a_truncated_and_another_clusters_archive_change_nothing(lab, clusters):
    cluster, _, folder = clusters
    cut = folder / "cut.tar.gz"
    whole = (folder / "cluster.tar.gz").read_bytes()
    cut.write_bytes(whole[: len(whole) // 3])
    before = state(lab)
    out = kub(cluster, "kub_restore", path=str(folder / "cluster.tar.gz"), dry_run=True)
    assert "restored etcd's data from the snapshot as member" in out, out[-3000:]
    refused = kub(cluster, "kub_restore", check=False, path=str(cut))
    assert refused.returncode != 0 and f"{cut} is not a whole kub backup" in refused.stdout
    refused = kub(cluster, "kub_restore", check=False, path=str(folder / "other.tar.gz"))
    assert refused.returncode != 0 and "is a backup of cluster other/master" in refused.stdout, refused.stdout[-2000:]
    assert state(lab) == before


def test_a_restore_brings_the_cluster_back_to_its_backup(lab, clusters):
    cluster, _, folder = clusters
    lab.exec(MASTER, KUBECTL + "create configmap made-after-the-backup")
    lab.exec(MASTER, KUBECTL + "delete deployment web --wait=false")
    out = kub(cluster, "kub_restore", path=str(folder / "cluster.tar.gz"))
    assert "every node is Ready" in out, out[-3000:]
    assert lab.exec(MASTER, KUBECTL + "get configmap made-after-the-backup", check=False).returncode != 0
    assert lab.exec(MASTER, KUBECTL + "get deployment web -o name").stdout.strip() == "deployment.apps/web"
    lab.exec(MASTER, KUBECTL + "wait --for=condition=Ready nodes --all --timeout=120s", timeout=150)
    lab.exec(MASTER, KUBECTL + "wait --for=condition=Available deployment/web --timeout=120s", timeout=150)
    # the cluster goes on writing after the restore
    lab.exec(MASTER, KUBECTL + "create configmap made-after-the-restore")
