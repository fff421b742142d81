"""The masters after the first, in a cluster with several: each joins the control plane in turn, through the
cluster's endpoint, with the control-plane certificates a running master uploaded for this run (encrypted with a
key made for it, never logged) and removed again once they are in. A master joined anew (its host wiped, or lost
and replaced) first has its old etcd member removed, so etcd neither waits for it nor refuses its new one."""
import threading

from ..errors import ConfigError, RemoteError, Unreachable
from ..hosts import facts as host_facts
from ..hosts import scripts
from ..hosts.failover import first_answering
from ..hosts.parallel import on_hosts
from ..hosts.runner import StepError, apply
from ..hosts.ssh import Host
from ..hosts.waiting import wait_until
from . import api_balancer, join, kubeadm, reset
from .drain import remove_nodes
from .nodes import answering, etcd_healthy, nodes

ETCD_PEER_PORT = 2380


def peer_url(ip):
    return f"https://[{ip}]:{ETCD_PEER_PORT}" if ":" in ip else f"https://{ip}:{ETCD_PEER_PORT}"


def joined(facts, target):
    """Whether a master is a control-plane node of target's cluster already."""
    return (facts.initialised and facts.ca_cert_hash == target.ca_cert_hash
            and facts.node_name in target.registered)


def join_masters(source, others, facts_by_ip, settings, target):
    """Joins each master of `others` (open Hosts, in order) that is not a control-plane node of the cluster yet, one
    at a time (etcd takes one new member at a time), through `source` (an open Host of a running master: the
    certificates, the token and etcd's members are dealt with there). Returns the hosts it joined."""
    todo = [host for host in others if not joined(facts_by_ip[host.ip], target)]
    if not todo:
        return []
    plan = source.plan is not None
    key = "" if plan else kubeadm.new_certificate_key()
    made, lock = [], threading.Lock()

    def token():   # made once, only when a join needs it (a plan makes none); never logged
        with lock:
            if not made:
                made.append(join.join_token(source))
            return made[0]

    apply(source, "control-plane certificates", scripts.CONTROL_PLANE_CERTS.call(action="upload", certificate_key=key),
          timeout=120, secrets=(key,) if key else ())
    try:
        for host in todo:
            apply(source, f"etcd member of {host.ip}", scripts.ETCD_MEMBER.call(peer_url=peer_url(host.ip)),
                  timeout=120)
            # (a plan sends no key: join.sh only tells what it would do)
            join.join(host, facts_by_ip[host.ip], settings, target, token, certificate_key=key or "-")
    finally:
        try:
            if made:
                join.delete_token(source, made[0])
        finally:
            apply(source, "control-plane certificates",
                  scripts.CONTROL_PLANE_CERTS.call(action="delete", certificate_key=""), timeout=120)
    return todo


def remove_masters(cluster, leaving, drain, force, logger, plan=None):
    """Masters (SshSettings) leave the control plane, one at a time, while an odd count of masters stays and keeps
    quorum: each drained and its node deleted, reset (kubeadm reset removes its etcd member), and its member removed
    from a master that stays when the reset could not (a host that cannot be reached: only with `force`); then kub's
    load balancer on the masters that stay knows only them. Returns the addresses that could not be cleaned."""
    ips = {host.ip for host in leaving}
    staying = [host for host in cluster.master_hosts if host.ip not in ips]
    if not staying or len(staying) % 2 == 0:
        raise ConfigError(f"removing {', '.join(sorted(ips))} would leave {len(staying)} master"
                          f"{'' if len(staying) == 1 else 's'}: etcd keeps quorum only with an odd count (1, 3 or 5): "
                          f"remove {'one fewer or one more' if staying else 'fewer'}")
    found = on_hosts(staying, logger, host_facts.gather, plan=plan)   # every master that stays must answer
    reached = on_hosts(leaving, logger, host_facts.gather, unreachable=lambda err: err, plan=plan)
    gone = [ip for ip, facts in reached.items() if isinstance(facts, Unreachable)]
    if gone and not force:
        raise RemoteError(f"{', '.join(gone)}: cannot be reached ({reached[gone[0]].reason}): nothing was removed; "
                          f"if the host is gone for good, run again with -p '{{\"force\": true}}' (its node and etcd "
                          f"member are removed and forgotten; wipe the host before it boots again)")
    with first_answering(staying, logger, plan) as source:
        etcd_healthy(source)
        states = nodes(source)
        registered = {address: name for name, (_, address) in states.items()}
        not_ready = [h.ip for h in staying if states.get(registered.get(h.ip), ("",))[0] != "True"]
        if not_ready:
            raise ConfigError(f"{', '.join(not_ready)}: a master that stays is not Ready: heal it first, so that etcd "
                              f"keeps quorum while the others leave; nothing was removed")
        for host in leaving:
            if host.ip in registered:
                remove_nodes(source, cluster.id, {registered[host.ip]: host.ip}, drain)
            if host.ip not in gone:
                with Host(host, logger, plan) as leaving_host:
                    if reached[host.ip].owner_id == cluster.id:
                        reset.reset(leaving_host, cluster.settings, cluster.settings.purge_packages)
            apply(source, f"etcd member of {host.ip}", scripts.ETCD_MEMBER.call(peer_url=peer_url(host.ip)),
                  timeout=120)
    if cluster.endpoint is not None and cluster.endpoint.virtual_ip:
        on_hosts(staying, logger, lambda host: api_balancer.set_up(
            host, cluster.endpoint, [h.ip for h in staying], found[host.ip], cluster.id), plan=plan)
    if plan is None:   # the endpoint answers again (a virtual IP a leaving master held has moved to one that stays)
        with first_answering(staying, logger) as source:
            wait_until(lambda: answering(source), 120, 1, lambda: StepError(
                f"{source.ip}: the API does not answer at {cluster.api_address} since the masters left: see kub's "
                f"keepalived and haproxy on the masters (journalctl -u kub-api-keepalived -u kub-api-haproxy)"))
    return gone

