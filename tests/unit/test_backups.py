"""Backup archives on the machine running cfy: written 0600 in a 0700 folder, read back and checked."""
import io
import json
import os
import stat
import tarfile

import pytest

from kub_plugin.errors import ConfigError
from kub_plugin.local import backups

META = {"cluster_id": "5b0e2c1a-7d4f-4e8a-9c3b-2f1e0d9c8b7a", "revision": 42, "etcd_version": "3.5.16"}


def master_tar(snapshot=b"etcd's bolt database", key=b"-----BEGIN PRIVATE KEY-----"):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, body in (("snapshot.db", snapshot), ("pki/ca.key", key)):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return data.getvalue()


def test_written_0600_in_a_new_0700_folder_and_read_back(tmp_path):
    path, size, meta = backups.write(tmp_path / "backups" / "c.tar.gz", master_tar(), META)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "backups").st_mode) == 0o700
    assert size == os.path.getsize(path) and meta["revision"] == 42 and meta["taken"]
    found, snapshot = backups.read(path)
    assert snapshot == b"etcd's bolt database" and found == json.loads(json.dumps(meta))
    with tarfile.open(path) as archive:
        assert sorted(archive.getnames()) == ["kub-backup.json", "pki/ca.key", "snapshot.db"]


def test_a_folder_others_can_read_is_refused(tmp_path):
    (tmp_path / "open").mkdir(mode=0o755)
    os.chmod(tmp_path / "open", 0o755)
    with pytest.raises(ConfigError, match=r"is open to other users \(mode 755\), and a backup holds the cluster's "
                                          r"keys: give a path in a folder of mode 0700"):
        backups.write(tmp_path / "open" / "c.tar.gz", master_tar(), META)
    assert not list((tmp_path / "open").iterdir())


def test_a_truncated_or_changed_archive_is_refused(tmp_path):
    path, _, _ = backups.write(tmp_path / "b" / "c.tar.gz", master_tar(), META)
    whole = open(path, "rb").read()
    cut = tmp_path / "b" / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ConfigError, match=r"cut.tar.gz is not a whole kub backup .*nothing was changed"):
        backups.read(cut)
    with pytest.raises(ConfigError, match="there is no archive at"):
        backups.read(tmp_path / "b" / "none.tar.gz")
    other = tmp_path / "b" / "other.tar.gz"
    meta = json.loads(tarfile.open(path).extractfile("kub-backup.json").read())
    with tarfile.open(other, "w:gz") as archive:
        for name, body in (("kub-backup.json", json.dumps(meta).encode()), ("snapshot.db", b"another database")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    with pytest.raises(ConfigError, match="is not the one its kub-backup.json lists"):
        backups.read(other)


def test_the_clusters_etcd_version_comes_from_its_static_pod():
    from kub_plugin.cluster import etcd_backup
    from kub_plugin.hosts.ssh import Result

    class Master:
        ip = "10.0.0.11"

        def __init__(self, manifest):
            self.manifest = manifest

        def run(self, command, sudo=False, timeout=None):
            assert command.text == "cat /etc/kubernetes/manifests/etcd.yaml"
            return Result(self.manifest, "", 0)

    manifest = "spec:\n  containers:\n  - command: [etcd]\n    image: registry.k8s.io/etcd:3.5.16-0\n"
    assert etcd_backup.etcd_version(Master(manifest)) == "3.5.16"
    assert etcd_backup.etcd_version(Master(manifest.replace("registry.k8s.io/etcd:3.5.16-0",
                                                            "mirror.example/etcd:v3.6.5-0"))) == "3.6.5"
    with pytest.raises(Exception, match="10.0.0.11: /etc/kubernetes/manifests/etcd.yaml names no etcd image"):
        etcd_backup.etcd_version(Master("spec: {}\n"))
