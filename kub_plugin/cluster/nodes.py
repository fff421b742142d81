"""A cluster's nodes as its API server sees them, read with kubectl on a control-plane host, and the wait until
they are Ready."""
import ipaddress
import json
import math
import time

from ..errors import ConfigError
from ..hosts import state
from ..hosts.commands import Command
from ..hosts.runner import StepError, error_line
from ..hosts.scripts import NO_CACHE as NO_CACHE  # kubectl keeps no cache on a host: hosts/scripts.py says why
from ..hosts.scripts import NO_CACHE_DIR
from ..hosts.waiting import wait_until

KUBECTL = Command("kubectl", "--kubeconfig", state.ADMIN_CONF)
WATCH_SLICE_SECONDS = 30   # the longest single `kubectl wait`; then every node is looked at again
READ_TIMEOUT = 120


def kubectl_command(kubeconfig):
    """kubectl with this kubeconfig, keeping no cache on the host (hosts.scripts.NO_CACHE_DIR)."""
    return Command("kubectl", "--kubeconfig", kubeconfig, "--cache-dir", NO_CACHE_DIR)


def nodes(master, kubectl=KUBECTL):
    """{node name: (Ready status 'True'/'False'/'Unknown', InternalIP)} as the API server sees them (through
    `kubectl`, the command and its options)."""
    result = master.run(Command(kubectl, "get", "nodes", "-o", "json"), sudo=True, timeout=60)
    if not result.ok:
        raise StepError(f"{master.ip}: the API server does not answer: {error_line(result)}")
    try:
        items = json.loads(result.stdout).get("items", [])
    except ValueError:
        raise StepError(f"{master.ip}: the API server did not answer with the node list (kubectl printed "
                        f"{result.stdout.strip()[:80]!r})") from None
    found = {}
    for item in items:
        status = item.get("status", {})
        ready = [c["status"] for c in status.get("conditions", []) if c.get("type") == "Ready"]
        address = [a["address"] for a in status.get("addresses", []) if a.get("type") == "InternalIP"]
        found[item["metadata"]["name"]] = (ready[0] if ready else "Unknown",
                                           _canonical(address[0]) if address else "")
    return found


def node_states(master, kubectl=KUBECTL):
    """{node name: Ready status}."""
    return {name: ready for name, (ready, _) in nodes(master, kubectl).items()}


def wait_ready(master, node_names, timeout=300, interval=1, watch_slice=WATCH_SLICE_SECONDS):
    """Returns once every named node is Ready. A registered node is waited for with `kubectl wait` (a watch:
    it wakes the moment the node turns Ready, and asks the API server nothing meanwhile); while the API or
    a node is not there yet, the nodes are listed every `interval` seconds."""
    waiting, states = {}, {}

    def all_ready():
        nonlocal waiting, states
        try:
            states = node_states(master)
        except StepError:
            states = {}   # the API may still be coming up
        waiting = {name: states.get(name, "not registered") for name in node_names if states.get(name) != "True"}
        if waiting:
            return None
        master.log(f"nodes Ready: {', '.join(node_names)}")
        return True

    def pause(left):
        registered = sorted(name for name in waiting if name in states)
        if registered:
            # one node per call: kubectl waits for several one after the other, each with the whole timeout
            seconds = max(1, math.ceil(min(left, watch_slice)))
            waited = master.run(Command(KUBECTL, "wait", "--for=condition=Ready", f"node/{registered[0]}",
                                        f"--timeout={seconds}s"), sudo=True, timeout=seconds + 30)
            if waited.ok:
                return
        # not there yet, or the wait failed (e.g. the API server restarting): look again in a moment
        time.sleep(min(interval, left))

    def not_ready():
        detail = ", ".join(f"{name} ({state})" for name, state in sorted(waiting.items()))
        return StepError(f"{master.ip}: nodes not Ready after {timeout} s: {detail}: check kubelet and "
                         f"containerd on them (journalctl -u kubelet) and that the CNI is running")

    wait_until(all_ready, timeout, interval, not_ready, pause)


def _canonical(address):
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def etcd_healthy(master):
    """The API server's own check of its etcd (`/readyz/etcd`), before a workflow that changes the control plane."""
    result = master.run(Command(KUBECTL, "get", "--raw", "/readyz/etcd"), sudo=True, timeout=60)
    if not result.ok or result.stdout.strip() != "ok":
        detail = (result.stdout.strip() or result.stderr.strip() or f"exit code {result.exit_code}").splitlines()[-1]
        raise ConfigError(f"{master.ip}: the cluster's etcd is not healthy (/readyz/etcd: {detail[:200]}): bring its "
                          f"masters back (heal) or restore it, then run the workflow again; nothing was changed")


def answering(master):
    """The cluster's nodes when its API answers (through the master's admin kubeconfig), else None: for waits."""
    try:
        return nodes(master)
    except StepError:
        return None
