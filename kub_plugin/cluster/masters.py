"""The masters after the first, in a cluster with several: each joins the control plane in turn, through the
cluster's endpoint, with the control-plane certificates a running master uploaded for this run (encrypted with a
key made for it, never logged) and removed again once they are in. A master joined anew (its host wiped, or lost
and replaced) first has its old etcd member removed, so etcd neither waits for it nor refuses its new one."""
import threading

from ..hosts import scripts
from ..hosts.runner import apply
from . import join, kubeadm

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
