"""Plan mode (KUB_DRY_RUN=yes) of every changing script, through kub's real runner on lab hosts: on a fresh host
it lists every change, on a host of a cluster kub installed none, after a drift only that; the `would:` lines are
the `changed:` lines the real run prints next; and the host is exactly as it was after every dry run."""
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kub_lab.cfy import LocalCfy
from kub_plugin.cluster import nodes as kubectl
from kub_plugin.cluster import registries
from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.hosts import osdata
from kub_plugin.hosts import state as hoststate
from kub_plugin.hosts.payload import LOCK_BUSY
from kub_plugin.hosts.ssh import Host
from kub_plugin.hosts.state import API_PORT

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))
from e2e_support import cluster_inputs, whole_host_state  # noqa: E402

pytestmark = pytest.mark.lab
MASTER, FRESH = 1, 2
ADMIN = f"--kubeconfig {hoststate.ADMIN_CONF}"
# the scripts an install runs on a master, in its order (containerd from its release: the lab's inputs)
INSTALL = ("prepare-host.sh", "packages.sh", "containerd-release.sh", "containerd.sh", "init.sh",
           "user-kubeconfig.sh", "cni.sh", "cni-record.sh")
def host_state(lab, i):
    return whole_host_state(lab, i)


def lines(output, mark):
    return [line[len(mark):] for line in output.splitlines() if line.startswith(mark)]


def run_script(lab, i, script, env, secret_env=None, dry_run=True, lock_wait=hoststate.LOCK_WAIT_SECONDS):
    """One script through kub's runner, as steps.apply runs it (under the host's lock): its result."""
    settings = ssh_settings({"ssh": {"private_key_path": lab.ssh_private_key_path,
                                     "known_hosts_path": lab.known_hosts_path, "connect_timeout": 5}},
                            lab.host_ip(i))
    with Host(settings, logging.getLogger("kub-test")) as host:
        plan_mode = {"KUB_DRY_RUN": "yes"} if dry_run else {}
        return host.run_script(script, env={**hoststate.SCRIPT_ENV, **env, **plan_mode}, secret_env=secret_env,
                               timeout=600, lock=(hoststate.LOCK_FILE, lock_wait))


def run(lab, i, script, env, secret_env=None, dry_run=True):
    """(changes, output) of a script that succeeded: `would:` lines in a dry run (and no `changed:` one)."""
    result = run_script(lab, i, script, env, secret_env, dry_run)
    assert result.ok, f"{script}: {result.stdout}{result.stderr}"
    assert not lines(result.stdout, "changed: " if dry_run else "would: "), result.stdout
    return lines(result.stdout, "would: " if dry_run else "changed: "), result.stdout


def plan(lab, i, scripts, envs):
    """{script: its would: lines} of dry runs, asserting the host is exactly as it was after them."""
    before = host_state(lab, i)
    planned = {script: run(lab, i, script, *envs[script])[0] for script in scripts}
    assert host_state(lab, i) == before
    return planned


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    """A one-host cluster kub installed with the real cfy, and the environment of each script as kub's steps give
    it there (read back from what kub wrote): {script: (env, secret_env)}; plus cfy's install output."""
    for i in (MASTER, FRESH):
        lab.wipe(i)
    cfy = LocalCfy(tmp_path_factory.mktemp("cfy"), blueprint_id="plan")
    cfy.stage()
    inputs = cluster_inputs(lab, master=MASTER, minions=(), local_kubeconfig_path=str(cfy.workdir / "admin.conf"))
    cfy.init(inputs)
    installed = cfy.install().stdout

    def read(path):
        return lab.exec(MASTER, f"cat {path}").stdout.rstrip("\n")
    owner, record = read(hoststate.OWNER_FILE), read(hoststate.RECORD_FILE)
    cluster_id = owner.split()[0]
    containerd = read(hoststate.CONTAINERD_RECORD)
    sums = containerd.split()
    versions = lab.exec(MASTER, "dpkg-query -W -f='${Package}=${Version}\\n' " + " ".join(
        hoststate.KUBERNETES_PACKAGES + hoststate.KUBERNETES_DEPENDENCIES)).stdout.split()
    cri_socket = "unix:///var/run/containerd/containerd.sock"
    node = lab.exec(MASTER, "hostname").stdout.strip()
    kubeconfig = {**kubectl.NO_CACHE, "KUB_KUBECONFIG": hoststate.ADMIN_CONF}
    envs = {
        "prepare-host.sh": ({"KUB_CLUSTER_ID": cluster_id, "KUB_OWNER": owner},),
        "packages.sh": ({"KUB_REPO_URL": read("/etc/apt/sources.list.d/kubernetes.list").split()[2],
                         "KUB_REPO_KEY": read("/etc/apt/keyrings/kubernetes-apt-keyring.asc"),
                         "KUB_INSTALL": " ".join(sorted(versions)), "KUB_OS_PACKAGES": ""},),
        "containerd-release.sh": ({"KUB_RECORD": containerd, "KUB_TARBALL_SHA256": sums[1],
                                   "KUB_RUNC_SHA256": sums[3], "KUB_UNIT_SHA256": sums[5]},),
        "containerd.sh": ({"KUB_REGISTRY_HOSTS": registries.script_value(inputs.get("registry_mirrors", {}))},),
        "init.sh": ({"KUB_INIT_TOKEN_ID": "abcdef", "KUB_RECORD": record, "KUB_CRI_SOCKET": cri_socket,
                     "KUB_CLUSTER_ID": cluster_id}, {"KUB_INIT_CONFIG": "not read by a dry run"}),
        "join.sh": ({"KUB_API_ENDPOINT": f"{lab.host_ip(MASTER)}:{API_PORT}", "KUB_RESET_FIRST": "no",
                     "KUB_RECORD": record, "KUB_CRI_SOCKET": cri_socket}, {"KUB_JOIN_CONFIG": "not read"}),
        "user-kubeconfig.sh": ({"KUB_USER": "root"},),
        "cni.sh": ({"KUB_MANIFEST": read(hoststate.CNI_MANIFEST)},),
        "cni-record.sh": ({},),
        "reset.sh": ({"KUB_PURGE": "no", "KUB_CRI_SOCKET": cri_socket,
                      "KUB_OS_PACKAGES": osdata.FALLBACK_PROFILE["containerd_package"]},),
        "remove-nodes.sh": ({"KUB_CLUSTER_ID": cluster_id, "KUB_NODES": f"{node}={lab.host_ip(MASTER)}",
                             "KUB_DRAIN_TIMEOUT": "60", "KUB_FORCE_DRAIN": "no"},),
        "workload-apply.sh": ({**kubeconfig, "KUB_NAMESPACE": "planned",
                               "KUB_NAMESPACE_OBJECT": "{apiVersion: v1, kind: Namespace, metadata: {name: planned}}",
                               "KUB_MANIFEST": "{apiVersion: v1, kind: ConfigMap, metadata: {name: sky, namespace: "
                                               "planned}, data: {colour: blue}}"},),
        "kubectl-change.sh": ({**kubeconfig, "KUB_ARGS": "create\nconfigmap\nsea\n--from-literal=colour=green"},),
    }
    yield {"envs": envs, "installed": installed, "node": node, "containerd": containerd,
           "registry_mirrors": inputs.get("registry_mirrors", {})}
    for i in (MASTER, FRESH):   # the other lab tests start from fresh hosts
        lab.wipe(i)


def test_a_fresh_host_plans_every_change_and_keeps_as_it_was(lab, cluster):
    envs = cluster["envs"]
    planned = plan(lab, FRESH, [*INSTALL, "join.sh", "reset.sh"], envs)
    version, runc = cluster["containerd"].split()[0].split("=")[1], cluster["containerd"].split()[2].split("=")[1]
    assert planned["containerd-release.sh"] == [f"installed containerd {version} and runc {runc} under /usr/local"]
    assert planned["containerd.sh"] == [
        *[f"wrote {path}" for path in registries.hosts_files(cluster["registry_mirrors"])],
        "wrote /etc/containerd/config.toml: SystemdCgroup = true and the sandbox image of the kubeadm installed; "
        f"config_path naming {hoststate.CONTAINERD_CERTS_DIR}",
        "restarted containerd"]
    assert planned["init.sh"] == ["kubeadm init (its bootstrap token removed)"]
    assert planned["join.sh"] == [f"joined the cluster at {lab.host_ip(MASTER)}:{API_PORT}"]
    assert planned["user-kubeconfig.sh"] == ["wrote /root/.kube/config"]
    assert planned["cni.sh"] == [f"wrote {hoststate.CNI_MANIFEST}",
                                 "applied the CNI manifest (kubectl apply, once kubeadm init made the cluster)"]
    assert planned["cni-record.sh"] == [
        "recorded the config the cluster's CNI writes in /etc/cni/net.d (once its node is Ready)"]
    assert planned["reset.sh"] == []   # nothing of kub's to undo
    # what kub's real install printed for the master
    for line in (*planned["containerd-release.sh"], *planned["init.sh"]):
        assert line in cluster["installed"]
    # the real runs that follow change exactly what the plan listed
    for script in ("prepare-host.sh", "packages.sh"):
        assert planned[script], script
        assert run(lab, FRESH, script, *envs[script], dry_run=False)[0] == planned[script]
    assert "installed " + " ".join(sorted(envs["packages.sh"][0]["KUB_INSTALL"].split())) in planned["packages.sh"]


def test_an_installed_host_plans_no_change(lab, cluster):
    assert plan(lab, MASTER, INSTALL, cluster["envs"]) == {script: [] for script in INSTALL}


def test_after_drifts_the_plan_lists_only_them(lab, cluster):
    envs = cluster["envs"]
    lab.exec(MASTER, "systemctl stop kubelet")
    planned = plan(lab, MASTER, INSTALL, envs)
    assert planned == {**{script: [] for script in INSTALL}, "packages.sh": ["started the kubelet"]}
    assert run(lab, MASTER, "packages.sh", *envs["packages.sh"], dry_run=False)[0] == planned["packages.sh"]

    config = "/etc/containerd/config.toml"
    lab.exec(MASTER, f"sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' {config}")
    planned = plan(lab, MASTER, INSTALL, envs)
    wrote = [line for line in planned["containerd.sh"] if line.startswith(f"wrote {config}: ")]
    assert planned == {**{script: [] for script in INSTALL}, "containerd.sh": [
        f"kept the host's own {config} as {config}{hoststate.ORIGINAL_SUFFIX} (put back at uninstall)",
        *wrote, "restarted containerd"]}
    assert wrote and "SystemdCgroup = true and sandbox " in wrote[0]
    assert run(lab, MASTER, "containerd.sh", *envs["containerd.sh"], dry_run=False)[0] == planned["containerd.sh"]
    assert plan(lab, MASTER, INSTALL, envs) == {script: [] for script in INSTALL}


def test_a_dry_run_waits_for_a_run_that_holds_the_lock(lab, cluster):
    holder = subprocess.Popen(lab.exec_argv(MASTER, f"flock {hoststate.LOCK_FILE} sleep 30"), start_new_session=True)
    try:
        for _ in range(100):
            if lab.exec(MASTER, f"flock -n {hoststate.LOCK_FILE} true", check=False).returncode:
                break
            time.sleep(0.1)
        result = run_script(lab, MASTER, "prepare-host.sh", *cluster["envs"]["prepare-host.sh"], lock_wait=1)
        assert result.exit_code == LOCK_BUSY, result.stdout + result.stderr
    finally:
        os.killpg(holder.pid, signal.SIGKILL)   # the flock in the host too
        holder.wait()


def test_uninstall_and_kubectl_changes_are_planned_and_nothing_changes(lab, cluster):
    envs, node = cluster["envs"], cluster["node"]
    kubectl_ = f"kubectl {ADMIN} --cache-dir /dev/null"
    uid = lab.exec(MASTER, f"{kubectl_} create configmap moon --from-literal=phase=full >/dev/null && "
                           f"{kubectl_} get configmap moon -o jsonpath='{{.metadata.uid}}'").stdout
    deletes = f'/api/v1/namespaces/default/configmaps/moon|{uid}|configmaps|default|moon|configmap "moon"'
    envs = {**envs, "workload-delete.sh": ({**kubectl.NO_CACHE, "KUB_KUBECONFIG": hoststate.ADMIN_CONF,
                                            "KUB_TIMEOUT": "30", "KUB_DELETES": deletes},)}
    scripts = ("remove-nodes.sh", "workload-apply.sh", "workload-delete.sh", "kubectl-change.sh", "reset.sh")
    before = host_state(lab, MASTER)
    planned = plan(lab, MASTER, scripts, envs)
    # a workload in a namespace that is there (the API server's dry run), and a join that resets a stale one first
    apply_env = {**envs["workload-apply.sh"][0], "KUB_NAMESPACE": "default",
                 "KUB_MANIFEST": "{apiVersion: v1, kind: ConfigMap, metadata: {name: sky, namespace: default}}"}
    assert run(lab, MASTER, "workload-apply.sh", apply_env)[0] == ["configmap/sky created"]
    join_env = {**envs["join.sh"][0], "KUB_RESET_FIRST": "yes"}
    assert run(lab, MASTER, "join.sh", join_env, *envs["join.sh"][1:])[0] == [
        "kubeadm reset", f"joined the cluster at {lab.host_ip(MASTER)}:{API_PORT}"]
    assert host_state(lab, MASTER) == before
    assert planned["remove-nodes.sh"] == [f"drained and deleted node {node}"]
    assert planned["workload-apply.sh"] == ["created namespace planned", "configmap/sky created"]
    assert planned["workload-delete.sh"] == ['configmap "moon" deleted']
    assert planned["kubectl-change.sh"] == ["configmap/sea created"]
    assert planned["reset.sh"][0] == "kubeadm reset"

    # with purge_packages: the packages kub installed, as apt's simulation without kub's holds says
    purge = ({**envs["reset.sh"][0], "KUB_PURGE": "yes"},)
    before = host_state(lab, MASTER)
    purging = run(lab, MASTER, "reset.sh", *purge)[0]
    assert host_state(lab, MASTER) == before
    assert [line for line in purging if line.startswith("purged ")]
    # the real reset changes exactly what its plan listed
    assert run(lab, MASTER, "reset.sh", *purge, dry_run=False)[0] == purging
