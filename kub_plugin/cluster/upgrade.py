"""A live cluster upgraded minor by minor, in kubeadm's documented order (kub_upgrade).

Every host is checked before any change: this cluster's, its lock free, every node Ready, no downgrade, each hop's
minor supported with the cluster's containerd, and the repository offering the hop's packages. Then per hop (one
minor): the master first (repository switched, kubeadm upgraded and held, `kubeadm upgrade apply`, drained, kubelet
and kubectl upgraded, kubelet restarted, uncordoned), then the minions in batches (kubeadm, `kubeadm upgrade node`,
drained with their PodDisruptionBudgets honoured, kubelet and kubectl, restart, uncordoned, Ready). Each host
records its finished hop (kubernetes_version in kub's record, hosts/state.RECORD_FILE), and each step done on the
way (scripts/upgrade-node.sh), so a re-run skips what is done. With a plan it tells what it would change instead.
"""
import threading
from dataclasses import dataclass, replace

from ..errors import ConfigError
from ..hosts import facts as host_facts
from ..hosts import scripts
from ..hosts.parallel import on_hosts
from ..hosts.runner import apply
from ..hosts.ssh import Host
from . import versions
from .drain import drain_node, uncordon_node
from .nodes import etcd_healthy, nodes, wait_ready
from .prepare import containerd_config, install_containerd_release
from .settings import ClusterSettings, version_tuple

DEFAULT_CONTAINERD = ClusterSettings.containerd_version

UPGRADED = ("kubeadm", "cri-tools")          # first, before `kubeadm upgrade`
AFTER_DRAIN = ("kubelet", "kubectl")         # once the node is drained
CHECK_LOCK_WAIT = 5


@dataclass(frozen=True)
class Member:
    """A host of the cluster: its SSH settings, its node's name, the minor its record says, its drain timeout, its
    architecture and its kubelet's package version."""
    ssh: object
    node_name: str
    minor: str
    drain_timeout: int
    arch: str
    kubelet: str
    containerd: str      # the record of the containerd release kub installed there ('' for the OS's)


def hops(current, target):
    """The minors from the one after `current` up to `target`, each supported by kub."""
    major, low = version_tuple(current)
    high = version_tuple(target)[1]
    return [f"{major}.{minor}" for minor in range(low + 1, high + 1)]


def preflight(cluster, members, target, artifacts, logger):
    """One line per problem, before any change; returns (hops, {minor: {package: version}}). `artifacts`: what the
    upgrade brings (local.artifacts.Artifacts of the cluster's settings, with the containerd release it upgrades to),
    asked for each hop's minor."""
    settings = artifacts.settings
    if target not in versions.MINORS:
        raise ConfigError(f"kub_upgrade: kubernetes_version {target!r} is not a minor kub supports "
                          f"({versions.supported()}): give one of them, e.g. '1.37'")
    master = members[0]
    current = master.minor
    if version_tuple(target) < version_tuple(current):
        raise ConfigError(f"{master.ssh.ip}: kubernetes_version {target} is lower than the running cluster's "
                          f"{current}, and Kubernetes cannot be downgraded: give {current} or a higher minor")
    for member in members:
        if version_tuple(member.minor) > version_tuple(target):
            raise ConfigError(f"{member.ssh.ip}: node {member.node_name} already runs {member.minor}, above "
                              f"kubernetes_version {target}: give {member.minor} or a higher minor")
    steps = hops(min((m.minor for m in members), key=version_tuple), target)
    for minor in steps:
        if minor not in versions.MINORS:
            raise ConfigError(f"kub_upgrade: the way from {current} to {target} passes {minor}, which kub does not "
                              f"support ({versions.supported()}): upgrade with a kub that supports it")
        low = versions.containerd_range(minor)[0]
        if settings.containerd_source != "release" and low >= (2,):
            raise ConfigError(f"{master.ssh.ip}: Kubernetes {minor} needs {versions.containerd_wanted(minor)}, which "
                              f"the OS's packages do not give: set containerd_source: release, install again, then "
                              f"upgrade")
        if settings.containerd_source == "release" and not versions.containerd_supported(
                minor, settings.containerd_version):
            raise ConfigError(f"{master.ssh.ip}: Kubernetes {minor} needs {versions.containerd_wanted(minor)}, not "
                              f"containerd {settings.containerd_version}: give kub_upgrade a containerd_version it "
                              f"supports, e.g. -p '{{\"containerd_version\": \"{DEFAULT_CONTAINERD}\"}}' (kub "
                              f"upgrades containerd on each node in its turn)")
    archs = {m.arch for m in members}
    wanted = {minor: artifacts.of_minor(minor).newest_versions(archs) for minor in steps}
    return steps, wanted


def members_of(cluster, minion_hosts, drains, logger, plan):
    """[Member], the master first, read on the hosts (each under its lock: another kub run there is refused now)."""
    all_hosts = [*cluster.master_hosts, *minion_hosts]

    def read(host):
        apply(host, "check", scripts.UPGRADE_NODE.call(cluster_id=cluster.id, step="check", minor="-", target="-"),
              timeout=60, lock_wait=CHECK_LOCK_WAIT)
        return host_facts.gather(host)

    found = on_hosts(all_hosts, logger, read, plan=plan)
    return [Member(ssh, found[ssh.ip].node_name, found[ssh.ip].recorded.get("kubernetes_version", ""),
                   drains[ssh.ip], found[ssh.ip].arch, found[ssh.ip].packages.get("kubelet", ""),
                   found[ssh.ip].containerd_release)
            for ssh in all_hosts]


def release(package_version):
    """1.36.3 of the package version 1.36.3-1.1."""
    return package_version.split(":")[-1].split("-")[0] or "?"


def all_ready(master, members):
    states = nodes(master)
    not_ready = [f"{m.node_name} ({m.ssh.ip}): {states.get(m.node_name, ('not registered',))[0]}" for m in members
                 if states.get(m.node_name, ("",))[0] != "True"]
    if not_ready:
        raise ConfigError(f"{master.ip}: not every node is Ready ({'; '.join(not_ready)}): bring them back (heal) or "
                          f"remove them (kub_remove_minions), then upgrade; nothing was changed")


def upgrade(cluster, minion_hosts, drains, target, batch_size, artifacts, logger, ready_timeout=300, plan=None):
    """Upgrades the cluster (its master, then minion_hosts [SshSettings]) to `target` (a minor). `drains`: {address:
    drain timeout}; `artifacts`: what its install brings (local.artifacts.Artifacts). Returns {package: version} of
    the last hop (the cluster's packages), or None when nothing was to do."""
    members = members_of(cluster, minion_hosts, drains, logger, plan)
    with Host(cluster.master_ssh, logger, plan) as master:
        all_ready(master, members)
        etcd_healthy(master)
        steps, wanted = preflight(cluster, members, target, artifacts, logger)
        key = artifacts.of_minor(target).repository_key()
        if not steps:
            logger.info(f"every node runs Kubernetes {target} already: nothing to do")
            return None
        final = release(wanted[steps[-1]]["kubelet"])
        for member in members:   # the plan, one line per node
            logger.info(f"~ {member.node_name} ({member.ssh.ip}): {release(member.kubelet)} -> {final}"
                        if member.minor != target else f"= {member.node_name} ({member.ssh.ip}): {target} already")
        others = len(cluster.master_hosts) - 1
        for minor in steps:
            hop = Hop(cluster, master, minor, wanted[minor], key, logger, ready_timeout, plan, artifacts)
            todo = [m for m in members if version_tuple(m.minor) < version_tuple(minor)]
            if todo and todo[0] is members[0]:
                hop.upgrade_master(members[0])
            # the other masters one at a time (`kubeadm upgrade node` upgrades their control plane), then the minions
            for member in [m for m in todo if m in members[1:1 + others]]:
                hop.upgrade_minions([member])
            minions = [m for m in todo if m in members[1 + others:]]
            for start in range(0, len(minions), max(1, batch_size)):
                hop.upgrade_minions(minions[start:start + max(1, batch_size)])
    return wanted[steps[-1]]


class Hop:
    """One minor's upgrade of the cluster's nodes."""

    def __init__(self, cluster, master, minor, versions_wanted, key, logger, ready_timeout, plan, artifacts):
        self.cluster, self.master, self.minor, self.key = cluster, master, minor, key
        self.versions, self.logger, self.ready_timeout, self.plan = versions_wanted, logger, ready_timeout, plan
        self.target = "v" + release(versions_wanted["kubeadm"])
        self.settings = replace(artifacts.settings, kubernetes_version=minor)
        self.artifacts = artifacts
        self.on_master = threading.Lock()   # the master's connection serves one batch member at a time

    def packages(self, host, names):
        apply(host, f"{self.minor} {', '.join(names)}", scripts.PACKAGES.call(
            repo_url=self.settings.repository_url, repo_key=self.key,
            install=" ".join(f"{name}={self.versions[name]}" for name in names)), timeout=900)

    def step(self, host, step):
        apply(host, f"upgrade {step}", scripts.UPGRADE_NODE.call(
            cluster_id=self.cluster.id, step=step, minor=self.minor, target=self.target), timeout=900)

    def upgrade_master(self, member):
        host = self.master
        self.packages(host, UPGRADED)
        self.step(host, "apply")
        self.finish(host, member)

    def finish(self, host, member):
        """Drained, kubelet and kubectl upgraded, restarted, uncordoned, Ready, recorded."""
        with self.on_master:
            drain_node(self.master, self.cluster.id, member.node_name, member.drain_timeout)
        self.containerd(host, member)
        self.packages(host, AFTER_DRAIN)
        self.step(host, "restart")
        with self.on_master:
            if self.plan is None:
                wait_ready(self.master, [member.node_name], timeout=self.ready_timeout)
            uncordon_node(self.master, self.cluster.id, member.node_name)
        self.step(host, "record")

    def containerd(self, host, member):
        """containerd's release, upgraded on a drained node when the upgrade brings another one (its configuration
        written anew for it, containerd restarted); the OS's containerd is left to the OS."""
        wanted = self.artifacts.containerd_release(member.arch)
        if wanted is None or member.containerd == wanted.record:
            return
        facts = host_facts.gather(host)   # (a re-run after a failure may find it done)
        install_containerd_release(host, facts, self.settings, wanted)
        apply(host, "containerd", containerd_config(self.settings), timeout=300)

    def upgrade_minions(self, batch):
        def one(host):
            member = next(m for m in batch if m.ssh.ip == host.ip)
            self.packages(host, UPGRADED)
            self.step(host, "node")
            self.finish(host, member)
            return member.node_name

        on_hosts([m.ssh for m in batch], self.logger, one, plan=self.plan)
