"""The workflow kub_upgrade: the deployment's cluster upgraded minor by minor (cluster.upgrade), then the master's
record of the cluster's package versions (runtime property package_versions) says the new ones, so later installs,
heals and kub_add_minions use them. Through the workflow context only, so the same on a Cloudify Manager."""
import re
from dataclasses import replace

from cloudify.decorators import workflow

from ..cluster import upgrade as cluster_upgrade
from ..cluster.properties import drain_settings, node_settings, ssh_settings
from ..cluster.settings import ClusterSettings, DrainSettings
from ..errors import ConfigError
from ..hosts.plan import Plan
from ..local.artifacts import Artifacts
from .errors import cloudify_errors
from .scaling import Deployment


def _whole(value, name, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"kub_upgrade: {name} {value!r} must be a whole number of at least {low}, e.g. "
                          f"-p '{{\"{name}\": {max(low, 1)}}}'")
    return value


def _with_containerd(settings, version):
    """The cluster's settings with the containerd release the upgrade brings, when one is given."""
    if not version:
        return settings
    if settings.containerd_source != "release":
        raise ConfigError(f"kub_upgrade: containerd_version is for containerd from its release, and this cluster runs "
                          f"the OS's (containerd_source {settings.containerd_source}): leave it out")
    if not re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", version, re.ASCII):
        raise ConfigError(f"kub_upgrade: containerd_version {version!r} is not a release version: use the form X.Y.Z, "
                          f"e.g. '{ClusterSettings.containerd_version}'")
    return replace(settings, containerd_version=version)


@workflow
@cloudify_errors
def upgrade(ctx, kubernetes_version="", batch_size=1, drain_timeout=0, dry_run=False, containerd_version="", **_):
    """kub_upgrade: the cluster to the minor `kubernetes_version`, one minor per hop; the master first, then the
    minions in batches of batch_size. With containerd_version (containerd from its release), each node's containerd
    is upgraded to it in the node's turn."""
    target = str(kubernetes_version or "").strip()
    if not target:
        raise ConfigError("kub_upgrade: kubernetes_version is missing: give the minor to upgrade to, e.g. "
                          "-p '{\"kubernetes_version\": \"1.37\"}'")
    batch_size = _whole(batch_size, "batch_size", 1)
    drain_timeout = _whole(drain_timeout, "drain_timeout", 0)
    found = Deployment(ctx, "kub_upgrade")
    settings = _with_containerd(found.cluster.settings, str(containerd_version or "").strip())
    masters = found.cluster.master_hosts
    drains = {h.ip: drain_timeout or DrainSettings.drain_timeout for h in masters}
    hosts = []
    for node_id, props in sorted(found.minions.items()):
        own = drain_timeout or drain_settings(props, node_id).drain_timeout
        for ip in found.held(node_id):
            hosts.append(ssh_settings(props, ip))
            drains[ip] = own
    ready_timeout = max([node_settings(props, node_id).ready_timeout for node_id, props in found.minions.items()]
                        or [node_settings({}, "").ready_timeout])
    plan = Plan([*(h.ip for h in masters), *(h.ip for h in hosts)]) if dry_run else None
    versions = cluster_upgrade.upgrade(found.cluster, hosts, drains, target, batch_size, Artifacts(settings),
                                       ctx.logger, ready_timeout=ready_timeout, plan=plan)
    if plan is not None:
        plan.report(ctx.logger, f"kub_upgrade to {target}")
        return
    if versions is None:
        return
    instance = list(ctx.get_node(found.cluster.master_id).instances)[0]
    runtime = dict(instance.runtime_properties or {})
    runtime["package_versions"] = versions
    ctx.update_node_instance(instance.id, runtime_properties=runtime, force=True)
    raised = f"kubernetes_version input to '{target}'" + (
        f" and its containerd_version to '{settings.containerd_version}'"
        if settings.containerd_version != found.cluster.settings.containerd_version else "")
    ctx.logger.info(f"the cluster runs Kubernetes {target} ({versions['kubelet']}): raise the blueprint's {raised} "
                    f"before the next install, heal or cfy init")
