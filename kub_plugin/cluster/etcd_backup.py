"""A cluster's etcd and keys backed up from a running master, and restored onto its masters (kub_backup, kub_restore).

Both use etcd's own tools at the cluster's own etcd version (read from its static pod), out of etcd's release (handed
down as `artifacts`, local.artifacts.Artifacts, checked on the machine running cfy). A backup is a snapshot taken
from one member and verified with etcdutl, with the keys a restore onto new hosts needs; what leaves the master is a
tar, read over SSH and never logged. A restore follows etcd's recovery guide: it refuses an archive that is not this
cluster's or does not verify on every master before any change, then stops every master's control plane, restores
each member from the same snapshot (same member list, revisions bumped and marked compacted), and starts them.
"""
import base64
import hashlib
import json
import re
from contextlib import ExitStack

from ..errors import ConfigError
from ..hosts import facts as host_facts
from ..hosts import scripts, state
from ..hosts.commands import Command
from ..hosts.parallel import on_hosts
from ..hosts.runner import StepError, apply, ok_or_raise
from ..hosts.ssh import Host
from ..hosts.waiting import wait_until
from .masters import peer_url
from .nodes import answering, wait_ready

ETCD_IMAGE = re.compile(r"^\s*image:\s*\S*/etcd:v?([0-9]+\.[0-9]+\.[0-9]+)", re.MULTILINE)


def etcd_version(host):
    """The version of the cluster's etcd on a master, from its static pod's image (registry.k8s.io/etcd:3.5.16-0)."""
    manifest = ok_or_raise(host, host.run(Command("cat", state.ETCD_MANIFEST), sudo=True, timeout=60),
                           f"reading {state.ETCD_MANIFEST}").stdout
    found = ETCD_IMAGE.search(manifest)
    if not found:
        raise StepError(f"{host.ip}: {state.ETCD_MANIFEST} names no etcd image with a version: this is not a "
                        f"control plane kubeadm laid out")
    return found.group(1)


def etcd_tools(host, facts, artifacts):
    """etcdctl and etcdutl of the cluster's etcd version on a master (uploaded unless there already)."""
    release = artifacts.etcd_release(etcd_version(host), facts.arch)
    if host.plan is None:
        ok_or_raise(host, host.upload(release.tarball, f"{state.CONTAINERD_STAGING}/etcd.tar.gz"),
                    "uploading etcd's release")
    apply(host, f"etcd {release.version} tools", scripts.ETCD_TOOLS.call(record=release.record,
                                                                         tarball_sha256=release.sha256), timeout=300)
    return release.version


def _ours(host, facts, cluster):
    if facts.owner_id != cluster.id or not facts.initialised:
        raise ConfigError(f"{host.ip}: not a running master of this deployment's cluster (owner: "
                          f"{facts.owner_name or 'none'}): install the deployment first")


def take(cluster, artifacts, logger):
    """(the master's tar of the snapshot and the keys, what describes it) from the first master that answers."""
    with cluster.open_master(logger) as master:
        facts = host_facts.gather(master)
        _ours(master, facts, cluster)
        version = etcd_tools(master, facts, artifacts)
        try:
            apply(master, "backup", scripts.BACKUP.call(action="take"), timeout=600)
            status = json.loads(_read(master, f"{state.BACKUP_DIR}/status.json").decode())
            listed = _read(master, f"{state.BACKUP_DIR}/backup.sha256").decode().strip()
            tar = _read(master, f"{state.BACKUP_DIR}/backup.tar")
        finally:
            apply(master, "backup", scripts.BACKUP.call(action="clean"), timeout=120)
    if hashlib.sha256(tar).hexdigest() != listed:
        raise StepError(f"{master.ip}: the backup read from the master is not what it wrote (its sha256 differs): "
                        f"run kub_backup again")
    return tar, {"cluster_id": cluster.id, "cluster": cluster.name, "master": master.ip,
                 "kubernetes_version": facts.recorded.get("kubernetes_version", ""), "etcd_version": version,
                 "revision": status.get("revision"), "hash": status.get("hash"), "total_keys": status.get("totalKey"),
                 "ca_cert_hash": facts.ca_cert_hash}


def _read(host, path):
    """A file of the master's, as bytes (base64 on the wire; never logged)."""
    result = ok_or_raise(host, host.run(Command("base64", "-w0", path), sudo=True, timeout=600), f"reading {path}")
    return base64.b64decode(result.stdout.strip())


def restore(cluster, artifacts, snapshot, meta, logger, ready_timeout=300, plan=None):
    """Restores every master's etcd member from `snapshot` (bytes), described by `meta` (the archive's); with a
    plan, tells what it would change instead."""
    sha256 = hashlib.sha256(snapshot).hexdigest()
    with ExitStack() as opened:
        masters = [opened.enter_context(Host(ssh, logger, plan)) for ssh in cluster.master_hosts]
        found = {host.ip: host_facts.gather(host) for host in masters}
        for host in masters:
            _ours(host, found[host.ip], cluster)
            if found[host.ip].ca_cert_hash != meta.get("ca_cert_hash"):
                raise ConfigError(f"{host.ip}: the archive is another cluster's (its CA differs from this cluster's): "
                                  f"give a backup kub_backup took of this deployment's cluster; nothing was changed")
        members = ",".join(f"{found[h.ip].node_name}={peer_url(h.ip)}" for h in masters)

        def step(host, name):
            apply(host, f"restore {name}", scripts.RESTORE.call(
                step=name, snapshot_sha256=sha256, name=found[host.ip].node_name, peer_url=peer_url(host.ip),
                initial_cluster=members), timeout=600)

        for host in masters:   # before any change: every master has the tools, the snapshot, and reads it
            etcd_tools(host, found[host.ip], artifacts)
            if plan is None:
                ok_or_raise(host, host.upload(snapshot, f"{state.RESTORE_DIR}/snapshot.db"), "uploading the snapshot")
                step(host, "verify")
        for name in ("stop", "restore", "start"):   # each on every master before the next
            on_hosts([h.settings for h in masters], logger, lambda host, name=name: step(host, name), plan=plan)
        if plan is None:
            wait_ready(masters[0], sorted(_wait_api(masters[0], ready_timeout)), timeout=ready_timeout)


def _wait_api(master, timeout):
    """The cluster's node names once its API answers again."""
    return wait_until(lambda: answering(master), timeout, 2, lambda: StepError(
        f"{master.ip}: the API did not answer within {timeout} s of the restore: see the etcd and kube-apiserver "
        f"logs on the masters (journalctl -u 'kubepods-*' or crictl logs), then run kub_restore again"))
