"""Cluster steps on hosts. Each reads host state first and changes only what differs, so re-runs converge.

Plain Python over a `connection.Host`; nothing here knows Cloudify.
"""
import json
import re
import shlex
import time

from . import osdata
from .config import API_PORT
from .connection import RemoteError

ADMIN_CONF = "/etc/kubernetes/admin.conf"
CNI_MANIFEST_PATH = "/var/lib/kub/cni.yaml"
KUBECTL = f"kubectl --kubeconfig {ADMIN_CONF}"


class StepError(RemoteError):
    """A step failed on a host, or the host is not fit for the cluster."""


def apply(host, label, script, env=None, secret_env=None, timeout=900, secrets=()):
    """Runs one idempotent script and logs one line: what changed, or that nothing had to."""
    result = host.run_script(script, env=env, secret_env=secret_env, timeout=timeout)
    if not result.ok:
        raise StepError(f"{host.ip}: {label} failed: {_redact(_error_line(result), secrets)}")
    changes = [line[len("changed: "):] for line in result.stdout.splitlines() if line.startswith("changed: ")]
    host.log(f"{label}: {'; '.join(changes) if changes else 'no change'}")
    return changes


def preflight(host, facts, role, cluster_id):
    """Refuses a host kub cannot or must not use, before anything on it is changed. Returns its OS profile."""
    ip = host.ip
    profile = osdata.os_profile(facts)
    if profile is None:
        raise StepError(f"{ip}: {facts.os_id or 'unknown OS'} {facts.os_version} is not supported: "
                        f"use a host with {osdata.supported_names()}")
    if facts.arch not in osdata.SUPPORTED_ARCH:
        raise StepError(f"{ip}: architecture {facts.arch} is not supported: use "
                        f"{' or '.join(osdata.SUPPORTED_ARCH)}")
    ours = facts.owner == cluster_id
    joined = facts.has_admin_conf or facts.has_kubelet_conf
    if joined and not ours:
        raise StepError(f"{ip}: already belongs to a Kubernetes cluster this deployment did not make "
                        f"(/etc/kubernetes holds its config): use another host, or run `kubeadm reset -f` "
                        f"there first if that cluster may go")
    if role == "minion" and facts.has_admin_conf:
        raise StepError(f"{ip}: is a control plane (has {ADMIN_CONF}): list it only as the master")
    if not (ours and joined):
        busy = [port for port in osdata.REQUIRED_PORTS[role] if port in facts.listening]
        if busy:
            ports = ", ".join(map(str, busy))
            raise StepError(f"{ip}: port {ports} already in use, {role} needs it: stop what listens there "
                            f"(ss -ltnp 'sport = :{busy[0]}') or use another host")
    return profile


def prepare(host, profile, cluster, repository_key):
    """Kernel, swap, containerd and the Kubernetes packages, as kubeadm needs them."""
    apply(host, "kernel and swap", "prepare-host.sh", timeout=120)
    apply(host, "containerd", "containerd.sh", env={"KUB_CONTAINERD_PACKAGE": profile["containerd_package"]})
    apply(host, f"Kubernetes {cluster.kubernetes_version} packages", "kubernetes-packages.sh",
          env={"KUB_VERSION": cluster.kubernetes_version, "KUB_REPO_URL": cluster.repository_url,
               "KUB_REPO_KEY": repository_key})


def init_command(cluster, ip, node_name, kubeadm_version):
    """The kubeadm init command line (nothing secret: the token is not printed, no certificate key)."""
    return [
        "kubeadm", "init",
        f"--apiserver-advertise-address={ip}",
        f"--control-plane-endpoint={host_port(ip)}",
        f"--pod-network-cidr={cluster.pod_network_cidr}",
        f"--service-cidr={cluster.service_cidr}",
        f"--cri-socket={cluster.cri_socket}",
        f"--node-name={node_name}",
        # pinned to the installed kubeadm, so no lookup of the latest release on the internet
        f"--kubernetes-version={kubeadm_version}",
        "--skip-token-print",
    ]


def init_master(host, facts, cluster, cluster_id):
    """kubeadm init, once. A host this deployment already initialised is left as it is."""
    if facts.has_admin_conf:
        host.log("kubeadm init: already initialised by this deployment, no change")
        return False
    _write_owner(host, cluster_id)
    # a previous init of ours that died half way leaves manifests behind: clear them to start over
    if facts.owner == cluster_id:
        host.run(f"kubeadm reset -f --cri-socket {shlex.quote(cluster.cri_socket)}", sudo=True, timeout=300)
    version = host.run("kubeadm version -o short", sudo=True).stdout.strip()
    if not version.startswith("v"):
        raise StepError(f"{host.ip}: kubeadm does not answer `kubeadm version`: run install again to "
                        f"reinstall the Kubernetes packages")
    command = shlex.join(init_command(cluster, host.ip, facts.node_name, version))
    result = host.run(command, sudo=True, timeout=900)
    if not result.ok:
        raise StepError(f"{host.ip}: kubeadm init failed: {_kubeadm_error(result)}")
    host.log(f"kubeadm init: initialised Kubernetes {version}, API at {host_port(host.ip)}")
    return True


def user_kubeconfig(host):
    """~/.kube/config for the SSH user (root included), so kubectl works after logging in."""
    apply(host, "kubeconfig for " + host.settings.user, "user-kubeconfig.sh",
          env={"KUB_USER": host.settings.user}, timeout=60)


def apply_cni(host, manifest):
    """Uploads the CNI manifest (the master may have no internet) and applies it."""
    current = host.run(f"cat {CNI_MANIFEST_PATH} 2>/dev/null", sudo=True).stdout
    if current != manifest:
        write = host.run(f"install -d -m 0700 /var/lib/kub && cat > {CNI_MANIFEST_PATH}", stdin=manifest,
                         sudo=True)
        if not write.ok:
            raise StepError(f"{host.ip}: could not write {CNI_MANIFEST_PATH}: {_error_line(write)}")
    result = host.run(f"{KUBECTL} apply -f {CNI_MANIFEST_PATH}", sudo=True, timeout=300)
    if not result.ok:
        raise StepError(f"{host.ip}: applying the CNI manifest failed: {_error_line(result)}")
    changed = [line for line in result.stdout.splitlines() if line and not line.endswith(" unchanged")]
    host.log(f"CNI: {'; '.join(changed) if changed else 'no change'}")


def node_states(master):
    """{node name: Ready status ('True', 'False', 'Unknown')} as the API server sees them."""
    result = master.run(f"{KUBECTL} get nodes -o json", sudo=True, timeout=60)
    if not result.ok:
        raise StepError(f"{master.ip}: the API server does not answer: {_error_line(result)}")
    states = {}
    for item in json.loads(result.stdout).get("items", []):
        ready = [c["status"] for c in item.get("status", {}).get("conditions", []) if c.get("type") == "Ready"]
        states[item["metadata"]["name"]] = ready[0] if ready else "Unknown"
    return states


def wait_ready(master, node_names, timeout=300, interval=3):
    deadline = time.monotonic() + timeout
    while True:
        try:
            states = node_states(master)
        except StepError:
            states = {}   # the API may still be coming up
        waiting = {name: states.get(name, "not registered") for name in node_names if states.get(name) != "True"}
        if not waiting:
            master.log(f"nodes Ready: {', '.join(node_names)}")
            return
        if time.monotonic() > deadline:
            detail = ", ".join(f"{name} ({state})" for name, state in sorted(waiting.items()))
            raise StepError(f"{master.ip}: nodes not Ready after {timeout} s: {detail}: check kubelet and "
                            f"containerd on them (journalctl -u kubelet) and that the CNI is running")
        time.sleep(interval)


def join_command(master):
    """A fresh, short-lived join command made on the master: (endpoint, token, ca hash). Never logged."""
    result = master.run("kubeadm token create --print-join-command --ttl 30m", sudo=True, timeout=120)
    text = result.stdout
    found = re.search(r"kubeadm join (\S+) .*--token (\S+) .*--discovery-token-ca-cert-hash (\S+)", text)
    if not result.ok or not found:
        # stdout may hold a token: report stderr only
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
        raise StepError(f"{master.ip}: could not create a join token: {detail[0][:300]}")
    return found.group(1), found.group(2), found.group(3)


def join(host, facts, cluster, cluster_id, master_ca_hash, get_join_command, registered):
    """Joins a minion, or leaves it when it already is a node of this cluster."""
    if facts.has_kubelet_conf:
        if facts.ca_cert_hash == master_ca_hash and facts.node_name in registered:
            host.log("kubeadm join: already a node of this cluster, no change")
            return False
        # ours (preflight checked) but stale: the master was rebuilt or the node removed
        host.run(f"kubeadm reset -f --cri-socket {shlex.quote(cluster.cri_socket)}", sudo=True, timeout=300)
        host.log("kubeadm join: stale join of this deployment reset")
    endpoint, token, ca_hash = get_join_command()
    apply(host, "kubeadm join", "join.sh",
          env={"KUB_API_ENDPOINT": endpoint, "KUB_CA_HASH": ca_hash, "KUB_CRI_SOCKET": cluster.cri_socket,
               "KUB_NODE_NAME": facts.node_name, "KUB_OWNER": cluster_id},
          secret_env={"KUB_JOIN_TOKEN": token}, secrets=(token,), timeout=600)
    return True


def remove_node(master, node_name):
    """Drains a node and deletes it from the cluster; a node already gone is fine."""
    if node_name not in node_states(master):
        master.log(f"remove {node_name}: not in the cluster, no change")
        return False
    name = shlex.quote(node_name)
    drain = master.run(f"{KUBECTL} drain {name} --ignore-daemonsets --delete-emptydir-data --force "
                       f"--timeout=120s", sudo=True, timeout=180)
    if not drain.ok:
        raise StepError(f"{master.ip}: draining {node_name} failed: {_error_line(drain)}")
    delete = master.run(f"{KUBECTL} delete node {name} --ignore-not-found", sudo=True, timeout=120)
    if not delete.ok:
        raise StepError(f"{master.ip}: deleting node {node_name} failed: {_error_line(delete)}")
    master.log(f"remove {node_name}: drained and deleted")
    return True


def reset(host, cluster, profile_package, purge):
    apply(host, "reset", "reset.sh", timeout=600,
          env={"KUB_PURGE": "yes" if purge else "no", "KUB_CRI_SOCKET": cluster.cri_socket,
               "KUB_CONTAINERD_PACKAGE": profile_package})


def read_admin_kubeconfig(host):
    """The admin kubeconfig text (a secret: never log it)."""
    result = host.run(f"cat {ADMIN_CONF}", sudo=True, timeout=60)
    if not result.ok:
        raise StepError(f"{host.ip}: cannot read {ADMIN_CONF}: {_error_line(result)}")
    return result.stdout


def _write_owner(host, cluster_id):
    result = host.run(f"install -d -m 0700 /var/lib/kub && printf '%s\\n' {shlex.quote(cluster_id)} "
                      f"> /var/lib/kub/owner", sudo=True)
    if not result.ok:
        raise StepError(f"{host.ip}: cannot write /var/lib/kub/owner: {_error_line(result)}")


def host_port(ip):
    return f"[{ip}]:{API_PORT}" if ":" in ip else f"{ip}:{API_PORT}"


def _kubeadm_error(result):
    text = result.stdout + "\n" + result.stderr
    errors = [line.strip() for line in text.splitlines() if "[ERROR" in line]
    return "; ".join(errors) if errors else _error_line(result)


def _error_line(result):
    for stream in (result.stderr, result.stdout):
        lines = [line.strip() for line in stream.splitlines() if line.strip()]
        marked = [line[len("error: "):] for line in lines if line.startswith("error: ")]
        if marked:
            return marked[-1]
        if lines:
            return lines[-1][:300]
    return f"exit code {result.exit_code}"


def _redact(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
