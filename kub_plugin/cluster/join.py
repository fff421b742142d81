"""The minions' phase: wait for the master, a short-lived token, kubeadm join."""
import time
from dataclasses import dataclass

from ..hosts import scripts, state
from ..hosts.commands import Command, Quoted, Raw, Secret
from ..hosts.runner import StepError, apply, ok_or_raise
from ..hosts.waiting import wait_until
from . import kubeadm
from .nodes import node_states

JOIN_TOKEN_TTL = "30m"


def wait_master(master, gather, cluster_id, timeout, failure=lambda: "", interval=3):
    """Waits until kub has initialised the master of this cluster and its API answers: its facts then.
    Stops within `interval` when the master's own operations failed (failure() says why)."""
    facts, waited = None, False

    def initialised():
        nonlocal facts
        facts = gather(master)
        if facts.owner_id == cluster_id and facts.initialised and facts.ca_cert_pem:
            try:
                node_states(master)
                if waited:
                    master.log("the master's API answers: joining")
                return facts
            except StepError:
                pass
        why = failure()
        if why:
            raise StepError(f"{master.ip}: the master failed ({why}), so no minion can join: fix that, then run "
                            f"install again")
        return None

    def pause(_left):
        nonlocal waited
        if not waited:
            master.log("waiting for the master's kubeadm init before joining")
            waited = True
        if facts.recorded:
            time.sleep(interval)
        else:
            _await_file(master, state.RECORD_FILE, interval)

    def not_initialised():
        return StepError(f"{master.ip}: the master was not initialised within {timeout} s, so no minion could "
                         f"join: see why the master's install stopped, fix it, then run install again "
                         f"(or raise master_timeout)")

    return wait_until(initialised, timeout, interval, not_initialised, pause)


def _await_file(host, path, seconds):
    """Returns once `path` exists on the host (init.sh writes its record last), or after `seconds`: the
    minions join as soon as the master is initialised, without polling it with whole fact gatherings."""
    until = Command(Raw("until [ -s"), path, Raw("]; do sleep 0.2; done"))
    host.run(Command("timeout", seconds, "sh", "-c", Quoted(until)), sudo=True, timeout=seconds + 30)


def join_token(master):
    """A fresh, short-lived bootstrap token made on the master (a secret: never logged)."""
    result = master.run(Command("kubeadm", "token", "create", "--ttl", JOIN_TOKEN_TTL, "--description",
                                "made by kub for a join; removed after it"), sudo=True, timeout=120)
    token = result.stdout.strip()
    if not result.ok or not kubeadm.TOKEN.fullmatch(token):
        # stdout may hold a token: report stderr only
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
        raise StepError(f"{master.ip}: could not create a join token: {detail[0][:300]}")
    return token


def delete_token(master, token):
    """Removes a bootstrap token kub made, by its id (the public half)."""
    ok_or_raise(master, master.run(Command("kubeadm", "token", "delete", Secret(kubeadm.token_id(token))), sudo=True,
                                   timeout=120),
                "removing the join token")


@dataclass(frozen=True)
class JoinTarget:
    """Where minions join: the cluster's API (host:port: its endpoint, or its one master), its CA pin and the nodes it
    has ({name: (Ready, address)})."""
    endpoint: str
    ca_cert_hash: str
    registered: dict


def join(host, facts, settings, target, get_token, certificate_key=None):
    """Joins a minion to target's cluster, or leaves it when it already is a node of that cluster. With
    `certificate_key` (the key of the control-plane certificates a master uploaded), joins a master to the control
    plane. (A plan makes no token: join.sh tells what it would do.)"""
    stale = facts.has_kubelet_conf
    if stale and facts.ca_cert_hash == target.ca_cert_hash and facts.node_name in target.registered:
        if host.plan is None:
            host.log("kubeadm join: already a node of this cluster, no change")
        return False
    # a join of ours that is stale (the master was rebuilt or the node removed) is reset first, by join.sh
    endpoint = target.endpoint
    variables = {"api_endpoint": endpoint, "reset_first": "yes" if stale else "no",
                 "record": kubeadm.record(settings), "cri_socket": settings.cri_socket,
                 "control_plane": "yes" if certificate_key else "no"}
    if host.plan is not None:   # no token is made and no configuration sent
        apply(host, "kubeadm join", scripts.JOIN.call(**variables, join_config=""), timeout=120)
        return True
    token = get_token()
    config = kubeadm.join_configuration(settings, endpoint, token, target.ca_cert_hash, facts.node_name,
                                        facts.cgroup_v1, (host.ip, certificate_key) if certificate_key else None)
    apply(host, "kubeadm join", scripts.JOIN.call(**variables, join_config=config), timeout=600,
          secrets=(token, certificate_key or token))
    return True
