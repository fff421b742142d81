"""The install's plan: every step an install runs on a cluster's hosts, run over hosts opened for a plan
(hosts.plan), so each script reads as usual, changes nothing and tells what it would change.

The same steps as the install, with the same checks first (a host the install would refuse fails the plan in the
same words). On fresh hosts the plan lists everything; on an installed cluster no host has a change; after a
drift (a stopped kubelet, a changed containerd config) it lists only that.
"""
from ..hosts.parallel import on_hosts
from ..hosts.plan import Plan
from . import api_balancer, checks, init, join, preflight, prepare
from .control_plane import master_packages
from .masters import joined as masters_joined

# the id and mark a plan names where the deployment has none yet (its first install makes them)
NEW_CLUSTER_ID = "(made by the install)"


def install_plan(cluster, minions, cni_manifest, artifacts, logger, planned=None):
    """The Plan of installing `cluster` (cfy.deployment.Cluster) with its minion hosts (SshSettings), the CNI
    manifest's text and what the install brings (local.artifacts.Artifacts); with `planned` (addresses), of those
    hosts only (the master is read all the same: a minion's join depends on it). Nothing changes on any host, nor
    in the cluster."""
    settings = cluster.settings
    masters = cluster.master_hosts
    cluster_id = cluster.id or NEW_CLUSTER_ID
    mark = f"{cluster_id} {cluster.name}"
    roles = {**{h.ip: "master" for h in masters}, **{h.ip: "minion" for h in minions}}
    hosts = [*masters, *minions]
    planned = [h.ip for h in hosts] if planned is None else list(planned)
    plan = Plan(planned)
    key = artifacts.repository_key()
    extra = master_packages(cluster.endpoint, len(masters))

    def check(host):
        facts, profile = preflight.checked(host, roles[host.ip], cluster.id, settings)
        return facts, profile, preflight.registered(facts, host) if roles[host.ip] == "master" else {}

    found = on_hosts(hosts, logger, check, plan=plan)
    # the master that runs the cluster (the first, unless only another one does now) inits it; the others join it
    source = next((h.ip for h in masters if found[h.ip][0].initialised), masters[0].ip)
    source_facts, _, registered = found[source]
    checks.unique_names({ip: facts for ip, (facts, _, _) in found.items()}, registered)
    archs = {facts.arch for facts, _, _ in found.values()}
    versions = artifacts.package_versions(source_facts, archs)
    target = join.JoinTarget(cluster.api_address, source_facts.ca_cert_hash if source_facts.initialised else "",
                             registered)

    def steps(host):
        facts, profile, _ = found[host.ip]
        master = roles[host.ip] == "master"
        prepare.prepare(host, facts, profile, settings, (cluster_id, mark), key, versions,
                        artifacts.containerd_release(facts.arch), extra if master else ())
        if master and cluster.endpoint is not None and cluster.endpoint.virtual_ip:
            api_balancer.set_up(host, cluster.endpoint, [h.ip for h in masters], facts, cluster_id)
        if host.ip == source:
            init.init_master(host, facts, settings, cluster_id, cluster.api_address)
            init.user_kubeconfig(host)
            init.apply_cni(host, cni_manifest)
        elif master:
            if not masters_joined(facts, target):
                join.join(host, facts, settings, target, get_token=None, certificate_key="-")
            init.user_kubeconfig(host)
        else:
            join.join(host, facts, settings, target, get_token=None)
        init.record_cni(host)

    on_hosts([h for h in hosts if h.ip in planned], logger, steps, plan=plan)
    return plan
