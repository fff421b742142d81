"""The workflows kub_backup and kub_restore: the cluster's etcd and keys into an archive on the machine running cfy,
and back onto the cluster's masters (cluster.etcd_backup, local.backups). Through the workflow context only, so the
same on a Cloudify Manager (where the archive is on the manager's machine)."""
from cloudify.decorators import workflow

from ..cluster import etcd_backup
from ..cluster.properties import node_settings
from ..errors import ConfigError
from ..hosts.plan import Plan
from ..local import backups
from ..local.artifacts import Artifacts
from .errors import cloudify_errors
from .scaling import Deployment


def _path(name, path):
    path = str(path or "").strip()
    if not path:
        raise ConfigError(f"{name}: path is missing: give the archive's file on this machine, e.g. "
                          f"-p '{{\"path\": \"/var/backups/kub/cluster.tar.gz\"}}'")
    return path


@workflow
@cloudify_errors
def backup(ctx, path="", **_):
    """kub_backup: a verified snapshot of the cluster's etcd and its keys, written to `path` (mode 0600)."""
    path = _path("kub_backup", path)
    found = Deployment(ctx, "kub_backup")
    tar, meta = etcd_backup.take(found.cluster, Artifacts(found.cluster.settings), ctx.logger)
    written, size, meta = backups.write(path, tar, meta)
    ctx.logger.info(f"backup {written}: {size} bytes, etcd revision {meta['revision']} ({meta['total_keys']} keys, "
                    f"etcd {meta['etcd_version']}), Kubernetes {meta['kubernetes_version']}, taken from "
                    f"{meta['master']} and verified")


@workflow
@cloudify_errors
def restore(ctx, path="", dry_run=False, **_):
    """kub_restore: every master's etcd member restored from an archive kub_backup wrote of this cluster."""
    path = _path("kub_restore", path)
    meta, snapshot = backups.read(path)
    found = Deployment(ctx, "kub_restore")
    if meta.get("cluster_id") != found.cluster.id:
        raise ConfigError(f"kub_restore: {path} is a backup of cluster {meta.get('cluster') or '?'} "
                          f"({meta.get('cluster_id') or 'no id'}), not of this deployment's ({found.cluster.name}, "
                          f"{found.cluster.id}): give a backup of this cluster; nothing was changed")
    plan = Plan([h.ip for h in found.cluster.master_hosts]) if dry_run else None
    ready_timeout = max([node_settings(props, node_id).ready_timeout for node_id, props in found.minions.items()]
                        or [node_settings({}, "").ready_timeout])
    etcd_backup.restore(found.cluster, Artifacts(found.cluster.settings), snapshot, meta, ctx.logger,
                        ready_timeout=ready_timeout, plan=plan)
    if plan is not None:
        plan.report(ctx.logger, f"kub_restore of {path}")
        return
    ctx.logger.info(f"restored {path} (etcd revision {meta['revision']}, taken {meta['taken']}): every master's "
                    f"etcd member and API answer, every node is Ready")
