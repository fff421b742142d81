"""One cluster through its life with the real cfy CLI: install (surviving a cut host), re-run, uninstall."""
import json
import os
import re
import stat
import subprocess
import time

import pytest
from e2e_support import MASTER, MINIONS, TOKEN, cluster_inputs, host_state

from kub_lab.cfy import LocalCfy

pytestmark = pytest.mark.lab
HOSTS = (MASTER, *MINIONS)
CUT = MINIONS[-1]
MINOR = "1.37"   # the newest minor, with containerd 2 from its release (the lab's inputs)
outputs_seen = []   # every cfy output of this module, checked for secrets at the end


@pytest.fixture(scope="module")
def deployment(lab, tmp_path_factory):
    cfy = LocalCfy(tmp_path_factory.mktemp("cluster"), blueprint_id="cluster")
    cfy.stage()
    cfy.kubeconfig = cfy.workdir / "admin.conf"
    # a sudoer whose sudo asks for a password: the hardest login path, and a secret to look for in logs
    cfy.inputs = cluster_inputs(lab, local_kubeconfig_path=str(cfy.kubeconfig), ssh_user="kubpw",
                                ssh_sudo_password=lab.sudo_password, kubernetes_version=MINOR)
    cfy.init(cfy.inputs)
    yield cfy
    for i in HOSTS:
        lab.wipe(i)


def ran(result):
    outputs_seen.append(result.stdout)
    return result


def nodes(lab):
    listing = json.loads(lab.exec(MASTER, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json").stdout)
    return {item["metadata"]["name"]: [c["status"] for c in item["status"]["conditions"]
                                       if c["type"] == "Ready"][0] for item in listing["items"]}


def test_install_survives_a_host_cut_during_configure_and_a_rerun_converges(lab, deployment):
    proc = subprocess.Popen([deployment.cfy, "executions", "start", "install", "-b", deployment.blueprint_id,
                             "--task-thread-pool-size", "8", "--task-retries", "2", "--task-retry-interval", "5"],
                            env=deployment.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # the minion's configure has begun once kub wrote its modules file there: pull the cable then
        deadline = time.monotonic() + 600
        while lab.exec(CUT, "test -e /etc/modules-load.d/k8s.conf", check=False).returncode != 0:
            assert proc.poll() is None, "install ended before the minion was configured"
            assert time.monotonic() < deadline
            time.sleep(0.3)
        lab.cut(CUT)
        out, _ = proc.communicate(timeout=600)
    finally:
        lab.heal(CUT)
        if proc.poll() is None:
            proc.kill()
    outputs_seen.append(out)
    assert proc.returncode != 0
    assert f"{lab.host_ip(CUT)}: " in out
    assert "connection was lost" in out or "cannot reach SSH port" in out, out[-3000:]

    ran(deployment.install())
    assert set(nodes(lab).values()) == {"True"} and len(nodes(lab)) == 3


def test_no_bootstrap_token_outlives_the_install(lab, deployment):
    assert lab.exec(MASTER, "kubeadm token list").stdout == ""


def test_outputs_name_the_api_the_kubeconfig_and_the_nodes(lab, deployment):
    outputs = deployment.outputs()
    assert outputs["api_endpoint"] == f"https://{lab.host_ip(MASTER)}:6443"
    path = outputs["kubeconfig_path"]
    assert path == str(deployment.kubeconfig)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert f"server: https://{lab.host_ip(MASTER)}:6443" in open(path).read()
    names = outputs["node_names"]
    assert names["master"] == ["kubh1"] and sorted(names["minions"]) == ["kubh2", "kubh3"]
    assert set(nodes(lab)) == {"kubh1", "kubh2", "kubh3"}


def test_the_minor_asked_for_runs_on_containerd_2_from_its_release(lab, deployment):
    version = json.loads(lab.exec(MASTER, "kubectl --kubeconfig /etc/kubernetes/admin.conf version -o json").stdout)
    assert version["clientVersion"]["gitVersion"].startswith(f"v{MINOR}.")      # the real upstream kubectl
    assert re.fullmatch(r"[0-9a-f]{40}", version["clientVersion"]["gitCommit"])
    assert version["serverVersion"]["gitVersion"].startswith(f"v{MINOR}.")
    wanted = lab.inputs()["containerd_version"]
    for i in HOSTS:
        assert lab.exec(i, "containerd --version").stdout.split()[2].lstrip("v").startswith(wanted), i
        assert lab.exec(i, "systemctl is-active containerd; readlink -f $(command -v containerd)").stdout.split() \
            == ["active", "/usr/local/bin/containerd"]


def test_install_again_is_a_no_op(deployment):
    out = ran(deployment.install()).stdout
    assert "Task started" not in out


def test_install_from_fresh_state_onto_the_installed_hosts_converges_without_change(lab, deployment):
    # cfy's state is thrown away (as when a node is added to the inputs and the blueprint re-initialised), and
    # with it the cluster's id: the hosts are refused until the id is given back, then every step runs again,
    # reads the hosts and finds nothing to do
    watched = "/etc/containerd/config.toml /etc/apt/sources.list.d/kubernetes.list /etc/kubernetes/kubelet.conf"
    before = {i: lab.exec(i, f"stat -c '%n %Y' {watched}").stdout for i in HOSTS}
    cluster_id = deployment.outputs()["cluster_id"]
    deployment.init(deployment.inputs)
    result = ran(deployment.install(check=False))
    assert result.returncode != 0
    assert (f"{lab.host_ip(MASTER)}: belongs to another kub cluster (cluster/master): use another host, or uninstall "
            f"that deployment first (if it is this deployment's cluster, set the master's cluster_id to the "
            f"cluster_id output it had)") in result.stdout, result.stdout[-3000:]
    deployment.inputs["cluster_id"] = cluster_id
    deployment.init(deployment.inputs)
    out = ran(deployment.install()).stdout
    steps = [line.split("] ", 2)[-1] for line in out.splitlines() if "INFO: [10.231." in line]
    assert len(steps) >= 15
    changed = [s for s in steps if not s.endswith(("no change", ": ok")) and not s.startswith("nodes Ready")]
    assert not changed, changed
    assert {i: lab.exec(i, f"stat -c '%n %Y' {watched}").stdout for i in HOSTS} == before
    assert deployment.outputs()["cluster_id"] == cluster_id


@pytest.mark.parametrize("change,expected", [
    ({"pod_network_cidr": "10.200.0.0/16"}, "pod_network_cidr 10.200.0.0/16 differs from the running "
                                            "cluster's 10.244.0.0/16"),
    ({"kubernetes_version": "1.36"}, "kubernetes_version 1.36 is lower than the running cluster's 1.37"),
])
def test_settings_the_running_cluster_cannot_take_are_refused(lab, deployment, change, expected):
    before = {i: host_state(lab, i) for i in HOSTS}
    deployment.init({**deployment.inputs, **change})
    try:
        result = ran(deployment.install(check=False))
        assert result.returncode != 0
        assert f"{lab.host_ip(MASTER)}: {expected}" in result.stdout, result.stdout[-3000:]
        assert {i: host_state(lab, i) for i in HOSTS} == before
    finally:
        deployment.init(deployment.inputs)
        ran(deployment.install())   # back to the cluster as it is: every step finds nothing to do


def test_ssh_user_gets_kubectl_on_the_master(lab, deployment):
    result = lab.exec(MASTER, "su - kubpw -c 'kubectl get nodes'")
    assert "kubh2" in result.stdout and "Ready" in result.stdout
    assert lab.exec(MASTER, "stat -c '%U %a' ~kubpw/.kube/config").stdout.split() == ["kubpw", "600"]


def test_heal_rejoins_a_wiped_minion_and_starts_a_stopped_kubelet_in_place(lab, deployment):
    keep = MINIONS[0]
    kept = lab.exec(keep, "stat -c %Y /etc/kubernetes/kubelet.conf").stdout
    lab.exec(keep, "systemctl stop kubelet")   # someone stopped it: heal starts it, no re-join
    lab.wipe(CUT)   # the host's disk is gone; its node goes NotReady once heartbeats stop
    deadline = time.monotonic() + 120
    while nodes(lab)[f"kubh{CUT}"] == "True":
        assert time.monotonic() < deadline
        time.sleep(2)
    minions = [i["id"] for i in deployment.node_instances() if i["node_id"] == "minions"]
    out = ran(deployment.execute("heal", {"node_instance_id": minions[0]})).stdout
    assert f"[{lab.host_ip(CUT)}] kubeadm join: joined the cluster" in out, out[-4000:]
    assert f"[{lab.host_ip(keep)}] kubeadm join: already a node of this cluster" in out
    assert f"[{lab.host_ip(keep)}] Kubernetes {MINOR} packages: started the kubelet\n" in out, out[-4000:]
    assert lab.exec(keep, "systemctl is-active kubelet").stdout.strip() == "active"
    assert "Stopping node instance" not in out          # healed in place, not reinstalled
    assert set(nodes(lab).values()) == {"True"} and len(nodes(lab)) == 3
    assert lab.exec(keep, "stat -c %Y /etc/kubernetes/kubelet.conf").stdout == kept


def test_no_secret_in_output_logs_or_runtime_properties(lab, deployment):
    # (inputs and properties are the user's own copy of the secrets; runtime properties and events are ours)
    texts = list(outputs_seen)
    for root, _, files in os.walk(deployment.workdir / ".cloudify" / "logs"):
        for name in files:
            with open(os.path.join(root, name), errors="replace") as f:
                texts.append(f.read())
    texts += [json.dumps(instance["runtime_properties"]) for instance in deployment.node_instances()]
    everything = "\n".join(texts)
    assert "install' workflow execution succeeded" in everything   # the logs really are in there
    assert not TOKEN.findall(everything)
    assert "client-key-data" not in everything and "PRIVATE KEY" not in everything
    assert lab.sudo_password not in everything


def test_uninstall_leaves_the_hosts_clean(lab, deployment):
    # what kube-proxy leaves in iptables, beside a rule of the host's own firewall
    lab.exec(MASTER, "iptables -N KUBE-SERVICES && iptables -A INPUT -j KUBE-SERVICES && "
                     "iptables -A INPUT -p tcp --dport 2222 -j ACCEPT")
    ran(deployment.uninstall())
    rules = lab.exec(MASTER, "iptables-save").stdout
    assert "KUBE-" not in rules and "--dport 2222 -j ACCEPT" in rules
    for i in HOSTS:
        # kubeadm reset keeps the (emptied) directories, as it does everywhere
        # (kub's record of the packages it installed stays with them, for a later purge)
        state = lab.exec(i, "find /etc/kubernetes /etc/cni/net.d /var/lib/kub /var/lib/etcd ~kubpw/.kube/config "
                            "-type f -not -path '/var/lib/kub/packages/*' 2>/dev/null; systemctl is-active kubelet; "
                            "true").stdout.split()
        assert state == ["inactive"], (i, state)
        assert "kubeadm" in lab.exec(i, "cat /var/lib/kub/packages/installed").stdout.split()
        # purge_packages is off: the packages stay (held), ready for a re-install
        assert lab.exec(i, "dpkg-query -W -f='${db:Status-Abbrev}' kubeadm").stdout == "hi "
    # nothing listens on 6443 (0x192B) any more
    listening = lab.exec(MASTER, "awk '$4 == \"0A\" && $2 ~ /:192B$/' /proc/net/tcp /proc/net/tcp6").stdout
    assert listening == ""
    assert not deployment.kubeconfig.exists()
