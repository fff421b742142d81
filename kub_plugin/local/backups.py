"""Backup archives on the machine running cfy: written mode 0600 in a folder only its owner reads (0700), read back
and checked before a restore. An archive is a gzip'd tar: `kub-backup.json` (what it holds: the cluster, its
versions, the snapshot's revision and sha256), `snapshot.db` (etcd's snapshot) and `pki/` (the cluster's keys)."""
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import time

from ..errors import ConfigError

META = "kub-backup.json"
SNAPSHOT = "snapshot.db"


def write(path, master_tar, meta):
    """Writes the archive (the master's tar of snapshot.db and pki/, with `meta` added) at `path`; returns
    (its path, its size in bytes, the meta written)."""
    path = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(path)
    if os.path.isdir(path) or path.endswith("/"):
        raise ConfigError(f"kub_backup: path {path} is a folder: give the archive's file name, e.g. "
                          f"{os.path.join(path, 'cluster.tar.gz')}")
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700)
    elif stat.S_IMODE(os.stat(folder).st_mode) & 0o077:
        mode = stat.S_IMODE(os.stat(folder).st_mode)
        raise ConfigError(f"kub_backup: {folder} is open to other users (mode {mode:o}), and a backup holds the "
                          f"cluster's keys: give a path in a folder of mode 0700 (chmod 700 {folder})")
    with tarfile.open(fileobj=io.BytesIO(master_tar)) as found:
        members = {m.name: found.extractfile(m).read() for m in found.getmembers() if m.isfile()}
    if SNAPSHOT not in members:
        raise ConfigError("kub_backup: the master's backup holds no snapshot: run kub_backup again")
    meta = {**meta, "snapshot_sha256": hashlib.sha256(members[SNAPSHOT]).hexdigest(),
            "taken": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    part = path + ".part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w") as archive:
        for name, data in [(META, json.dumps(meta, indent=2, sort_keys=True).encode()), *sorted(members.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    os.replace(part, path)
    return path, os.path.getsize(path), meta


def read(path):
    """(meta, snapshot bytes) of an archive kub_backup wrote, checked: one that is not such an archive, is cut
    short, or whose snapshot is not the one it lists is refused before any host is touched."""
    path = os.path.abspath(os.path.expanduser(path))
    try:
        with tarfile.open(path, "r:gz") as archive:
            meta = json.loads(archive.extractfile(META).read())
            snapshot = archive.extractfile(SNAPSHOT).read()
    except FileNotFoundError:
        raise ConfigError(f"kub_restore: there is no archive at {path}: give the path kub_backup wrote") from None
    except (OSError, EOFError, tarfile.TarError, KeyError, AttributeError, ValueError) as err:
        raise ConfigError(f"kub_restore: {path} is not a whole kub backup ({type(err).__name__}: "
                          f"{str(err)[:120]}): give an archive kub_backup wrote, copied whole; nothing was changed") \
            from None
    if hashlib.sha256(snapshot).hexdigest() != meta.get("snapshot_sha256"):
        raise ConfigError(f"kub_restore: the snapshot in {path} is not the one its kub-backup.json lists (its sha256 "
                          f"differs): the archive is damaged; nothing was changed")
    return meta, snapshot
