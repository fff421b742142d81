"""Steps and checks without hosts: facts and inputs in, commands and verdicts out."""
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from kub_plugin.cluster import checks, drain, init, join, kubeadm, nodes, prepare
from kub_plugin.cluster.settings import ClusterSettings, DrainSettings, SshSettings
from kub_plugin.hosts import facts as host_facts
from kub_plugin.hosts import runner, scripts
from kub_plugin.hosts.commands import Command
from kub_plugin.hosts.payload import LOCK_BUSY, locked_bash
from kub_plugin.hosts.plan import Plan
from kub_plugin.hosts.ssh import Result

CASES = yaml.safe_load((Path(__file__).parent / "data" / "preflight.yaml").read_text())
CLUSTER_ID = "5b0e2c1a-7d4f-4e8a-9c3b-2f1e0d9c8b7a"
MARK = f"{CLUSTER_ID} dep/master"
TOKEN = "abcdef.0123456789abcdef"


class FakeHost:
    """Records what would run on a host (each command line as it would be sent: kub builds every one as a
    hosts.commands.Command); answers from a table of canned results."""

    def __init__(self, answers=None, user="root", plan=None):
        self.ip = "10.9.9.9"
        self.settings = SshSettings(ip=self.ip, user=user, private_key_path="/k")
        self.answers = answers or {}
        self.plan = plan
        self.commands, self.scripts, self.logged = [], [], []

    def log(self, message):
        self.logged.append(message)

    def run(self, command, stdin="", sudo=False, timeout=None):
        assert isinstance(command, Command), f"a command line not built as a Command: {command!r}"
        self.commands.append(command.text)
        for prefix, result in self.answers.items():
            if command.text.startswith(prefix):
                return result
        return Result("", "", 0)

    def run_script(self, name, env=None, secret_env=None, timeout=None, lock=None):
        self.scripts.append((name, env or {}, secret_env or {}, lock))
        return self.answers.get(name, Result("changed: did it\n", "", 0))


def facts_of(values):
    values = {"hostname": "node1", "cgroup_fs": "cgroup2fs", **values}
    return host_facts.Facts(**{**values, "listening": frozenset(values.get("listening", []))})


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_host_checks(case):
    facts, cluster = facts_of(case["facts"]), ClusterSettings(**case.get("cluster", {}))
    if "error" in case:
        with pytest.raises(checks.HostRefused) as err:
            checks.host("10.9.9.9", facts, case["role"], CLUSTER_ID, cluster)
        assert case["error"] in str(err.value)
        assert str(err.value).startswith("10.9.9.9: ") and "\n" not in str(err.value)
    else:
        assert checks.host("10.9.9.9", facts, case["role"], CLUSTER_ID, cluster) == case["profile"]


def test_node_names_are_unique_in_the_cluster_and_against_registered_nodes():
    same = {"10.0.0.2": facts_of({"hostname": "Same"}), "10.0.0.3": facts_of({"hostname": "same"})}
    with pytest.raises(checks.HostRefused, match="10.0.0.3: hostname 'same' is also the hostname of 10.0.0.2"):
        checks.unique_names(same)
    with pytest.raises(checks.HostRefused, match="10.0.0.2: hostname 'w' is already the name of the cluster's node "
                                                 "at 10.0.0.9"):
        checks.unique_names({"10.0.0.2": facts_of({"hostname": "w"})}, {"w": "10.0.0.9"})
    checks.unique_names({"10.0.0.2": facts_of({"hostname": "w"})}, {"w": "10.0.0.2", "cp": "10.0.0.1"})


def test_facts_parse():
    text = ("os_id=ubuntu\nos_version=24.04\narch=aarch64\nhostname=Node-A\n"
            f"listening=22 6443\nhas_kubelet_conf=yes\nowner={MARK}\nrecorded_pod_network_cidr=10.244.0.0/16\n"
            "packages=kubeadm=1.31.2-1.1 cri-tools=1.31.1-1.1\n")
    facts = host_facts.parse(text)
    assert (facts.os_id, facts.os_version, facts.arch) == ("ubuntu", "24.04", "aarch64")
    assert facts.node_name == "node-a"
    assert facts.listening == {22, 6443}
    assert facts.has_kubelet_conf and not facts.has_admin_conf and facts.joined
    assert facts.recorded == {"pod_network_cidr": "10.244.0.0/16"}
    assert (facts.owner_id, facts.owner_name) == (CLUSTER_ID, "dep/master")
    assert not facts.initialised   # a minion: no admin.conf
    assert facts.packages == {"kubeadm": "1.31.2-1.1", "cri-tools": "1.31.1-1.1"}


def test_init_configuration_is_rendered_from_data():
    cluster = ClusterSettings(kubernetes_version="1.36", pod_network_cidr="10.244.0.0/16")
    documents = list(yaml.safe_load_all(kubeadm.init_configuration(cluster, "10.0.0.1", "cp-1", "v1.36.2", TOKEN,
                                                                   cgroup_v1=False)))
    init, clustered = documents
    assert init["apiVersion"] == clustered["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert init["kind"] == "InitConfiguration" and clustered["kind"] == "ClusterConfiguration"
    assert init["bootstrapTokens"][0]["token"] == TOKEN and init["bootstrapTokens"][0]["ttl"] == "15m"
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.1", "bindPort": 6443}
    assert init["nodeRegistration"] == {"name": "cp-1", "criSocket": cluster.cri_socket}
    assert clustered["kubernetesVersion"] == "v1.36.2"
    assert clustered["controlPlaneEndpoint"] == "10.0.0.1:6443"
    assert clustered["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12"}


def test_a_cgroup_v1_opt_in_tells_the_kubelet_and_lets_only_system_verification_pass():
    cluster = ClusterSettings(kubernetes_version="1.35", allow_cgroup_v1=True)
    init, clustered, kubelet = yaml.safe_load_all(
        kubeadm.init_configuration(cluster, "fd00::1", "cp", "v1.35.1", TOKEN, cgroup_v1=True))
    assert kubelet == {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                       "cgroupDriver": "systemd", "failCgroupV1": False}
    assert init["nodeRegistration"]["ignorePreflightErrors"] == ["SystemVerification"]
    assert clustered["controlPlaneEndpoint"] == "[fd00::1]:6443"
    join = yaml.safe_load(kubeadm.join_configuration(cluster, "[fd00::1]:6443", TOKEN, "sha256:aa", "w", True))
    assert join["nodeRegistration"]["ignorePreflightErrors"] == ["SystemVerification"]
    # a cgroup v2 host of the same cluster keeps every preflight check
    join = yaml.safe_load(kubeadm.join_configuration(cluster, "[fd00::1]:6443", TOKEN, "sha256:aa", "w", False))
    assert "ignorePreflightErrors" not in join["nodeRegistration"]


def test_join_configuration_cannot_be_bent_by_its_values():
    odd = 'w1"\ncaCertHashes: []\n#'
    join = yaml.safe_load(kubeadm.join_configuration(ClusterSettings(), "10.0.0.1:6443", TOKEN, "sha256:aa", odd,
                                                     False))
    assert join["nodeRegistration"]["name"] == odd
    assert join["discovery"]["bootstrapToken"] == {"apiServerEndpoint": "10.0.0.1:6443", "token": TOKEN,
                                                   "caCertHashes": ["sha256:aa"]}


def test_new_tokens_are_bootstrap_tokens_and_their_id_is_the_public_half():
    made = {kubeadm.new_token() for _ in range(20)}
    assert len(made) == 20 and all(kubeadm.TOKEN.fullmatch(t) for t in made)
    assert kubeadm.token_id(TOKEN) == "abcdef"


VERSIONS = {"kubeadm": "1.36.2-1.1", "kubelet": "1.36.2-1.1", "kubectl": "1.36.2-1.1",
            "cri-tools": "1.36.0-1.1", "kubernetes-cni": "1.7.1-1.1"}


def test_prepare_marks_the_host_first_and_pins_every_package():
    host = FakeHost()
    cluster = ClusterSettings(kubernetes_version="1.35", containerd_source="os",
                              package_repository_url="http://mirror/v{version}/deb/")
    prepare.prepare(host, facts_of({}), {"containerd_package": "containerd.io"}, cluster, (CLUSTER_ID, MARK), "KEY",
                    VERSIONS)
    names = [name for name, _, _, _ in host.scripts]
    assert names == ["prepare-host.sh", "packages.sh", "containerd.sh"]
    assert host.scripts[0][1]["KUB_OWNER"] == MARK and host.scripts[0][1]["KUB_CLUSTER_ID"] == CLUSTER_ID
    env = host.scripts[1][1]
    assert env["KUB_OS_PACKAGES"] == "containerd.io"
    assert env["KUB_INSTALL"] == ("cri-tools=1.36.0-1.1 kubeadm=1.36.2-1.1 kubectl=1.36.2-1.1 "
                                  "kubelet=1.36.2-1.1 kubernetes-cni=1.7.1-1.1")
    assert env["KUB_REPO_URL"] == "http://mirror/v1.35/deb/" and env["KUB_REPO_KEY"] == "KEY"
    assert env["KUB_DIR"] == "/var/lib/kub"   # host paths travel with every script
    assert all(lock == ("/var/lib/kub/lock", 30) for _, _, _, lock in host.scripts)
    assert host.logged[0] == "owner mark, kernel and swap: did it"


class FakeRelease:
    tarball, runc, unit, record = b"tar", b"runc", b"[Service]", "containerd=2.1.9 aa runc=1.3.3 bb unit cc"

    def sums(self):
        return {"KUB_TARBALL_SHA256": "aa", "KUB_RUNC_SHA256": "bb", "KUB_UNIT_SHA256": "cc"}


def test_containerd_release_is_uploaded_and_installed_only_where_it_differs():
    host = FakeHost()
    host.uploads = []
    host.upload = lambda data, path: host.uploads.append((path, data)) or Result("", "", 0)
    prepare.prepare(host, facts_of({}), {"containerd_package": "containerd"}, ClusterSettings(), (CLUSTER_ID, MARK),
                    "KEY", VERSIONS, FakeRelease())
    assert [name for name, _, _, _ in host.scripts] == ["prepare-host.sh", "packages.sh", "containerd-release.sh",
                                                        "containerd.sh"]
    assert host.scripts[1][1]["KUB_OS_PACKAGES"] == ""      # not the OS's containerd
    assert host.scripts[2][1]["KUB_RECORD"] == FakeRelease.record
    assert [path for path, _ in host.uploads] == [f"/var/lib/kub/staging/{name}" for name in
                                                  ("containerd.tar.gz", "runc", "containerd.service")]
    again = FakeHost()
    prepare.install_containerd_release(again, facts_of({"containerd_release": FakeRelease.record}), ClusterSettings(),
                                       FakeRelease())
    assert not again.scripts and again.logged == ["containerd 2.1.9 release: no change"]


def test_unchanged_step_logs_no_change_and_notes_reach_the_user():
    host = FakeHost({"prepare-host.sh": Result("note: kept your file\n", "", 0)})
    assert runner.apply(host, "kernel and swap", scripts.PREPARE_HOST.call(cluster_id=CLUSTER_ID, owner=MARK)) == []
    assert host.logged == ["kernel and swap: no change", "kept your file"]


def test_a_host_locked_by_another_run_is_named():
    host = FakeHost({"reset.sh": Result("", "", LOCK_BUSY)})
    with pytest.raises(runner.StepError, match="10.9.9.9: another kub run is working on this host"):
        runner.apply(host, "reset", scripts.RESET.call(cri_socket="unix:///c.sock"))


def test_init_sends_its_token_as_a_secret_and_removes_it_by_id():
    host = FakeHost({"kubeadm version": Result("v1.31.2\n", "", 0)})
    assert init.init_master(host, facts_of({}), ClusterSettings(), CLUSTER_ID)
    name, env, secret_env, _ = host.scripts[0]
    assert name == "init.sh" and env["KUB_CLUSTER_ID"] == CLUSTER_ID
    token = yaml.safe_load_all(secret_env["KUB_INIT_CONFIG"]).__next__()["bootstrapTokens"][0]["token"]
    assert env["KUB_INIT_TOKEN_ID"] == token.split(".")[0]
    assert token not in str(env) and all(token not in line for line in host.logged)
    assert "pod_network_cidr=10.244.0.0/16" in env["KUB_RECORD"]


def test_init_is_skipped_on_an_initialised_master():
    host = FakeHost()
    initialised = {"has_admin_conf": True, "owner": MARK, "recorded": {"kubernetes_version": "1.36"}}
    assert not init.init_master(host, facts_of(initialised), ClusterSettings(), CLUSTER_ID)
    assert not host.scripts and not host.commands
    assert host.logged == ["kubeadm init: already initialised by this deployment, no change"]


def test_admin_conf_without_kubs_record_is_a_failed_init_done_again():
    host = FakeHost({"kubeadm version": Result("v1.36.2\n", "", 0)})
    assert init.init_master(host, facts_of({"has_admin_conf": True, "owner": MARK}), ClusterSettings(), CLUSTER_ID)
    assert [name for name, _, _, _ in host.scripts] == ["init.sh"]
    assert host.logged[0] == ("kubeadm init: /etc/kubernetes/admin.conf is there without kub's record of a finished "
                              "init (an earlier init failed half way): resetting this host and initialising it again")


def test_join_sends_the_token_as_a_secret_and_never_logs_it():
    host = FakeHost()
    joined = join.join(host, facts_of({"hostname": "w1"}), ClusterSettings(),
                       join.JoinTarget("10.0.0.1:6443", "sha256:aa", {}), lambda: TOKEN)
    assert joined
    name, env, secret_env, _ = host.scripts[0]
    assert name == "join.sh"
    assert yaml.safe_load(secret_env["KUB_JOIN_CONFIG"])["discovery"]["bootstrapToken"]["token"] == TOKEN
    assert TOKEN not in str(env) and all(TOKEN not in line for line in host.logged)
    assert env["KUB_RESET_FIRST"] == "no" and env["KUB_API_ENDPOINT"] == "10.0.0.1:6443"


def test_failed_join_error_has_the_token_redacted():
    host = FakeHost({"join.sh": Result("", f"error: kubeadm said {TOKEN} is bad\n", 1)})
    with pytest.raises(runner.StepError) as err:
        join.join(host, facts_of({"hostname": "w1"}), ClusterSettings(),
                  join.JoinTarget("10.0.0.1:6443", "sha256:aa", {}), lambda: TOKEN)
    assert TOKEN not in str(err.value) and "***" in str(err.value)


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory):
    d = tmp_path_factory.mktemp("ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kubernetes",
                    "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"), "-days", "1"],
                   check=True, capture_output=True)
    return (d / "ca.crt").read_text()


def test_ca_hash_is_kubeadms_pin(ca_pem, tmp_path):
    # the pipeline from the kubeadm docs
    (tmp_path / "ca.crt").write_text(ca_pem)
    pipeline = (f"openssl x509 -pubkey -in {tmp_path}/ca.crt | openssl rsa -pubin -outform der 2>/dev/null"
                " | openssl dgst -sha256 -hex | sed 's/^.* //'")
    expected = subprocess.run(pipeline, shell=True, check=True, capture_output=True, text=True).stdout.strip()
    assert host_facts.ca_cert_hash(ca_pem) == "sha256:" + expected


def test_join_is_skipped_for_a_registered_node_of_this_cluster(ca_pem):
    host = FakeHost()
    facts = facts_of({"hostname": "w1", "has_kubelet_conf": True, "owner": MARK, "ca_cert_pem": ca_pem})
    asked = []
    target = join.JoinTarget("10.0.0.1:6443", host_facts.ca_cert_hash(ca_pem), {"w1": ("True", "10.9.9.9")})
    joined = join.join(host, facts, ClusterSettings(), target, lambda: asked.append(1))
    assert not joined and not asked and not host.scripts and not host.commands


def test_stale_join_of_ours_is_reset_then_joined_again():
    host = FakeHost()
    facts = facts_of({"hostname": "w1", "has_kubelet_conf": True, "owner": MARK})
    join.join(host, facts, ClusterSettings(), join.JoinTarget("10.0.0.1:6443", "sha256:new", {}), lambda: TOKEN)
    assert host.scripts[0][0] == "join.sh" and host.scripts[0][1]["KUB_RESET_FIRST"] == "yes"


LISTING = ('{"items": [{"metadata": {"name": "cp"}, "status": {"conditions": [{"type": "Ready", "status": "True"}],'
           ' "addresses": [{"type": "InternalIP", "address": "2001:DB8::1"}]}}, {"metadata": {"name": "w1"}, '
           '"status": {"conditions": [{"type": "Ready", "status": "False"}]}}]}')


def test_nodes_states_addresses_and_wait_ready_report_what_is_missing():
    master = FakeHost({"kubectl": Result(LISTING, "", 0)})
    assert nodes.nodes(master) == {"cp": ("True", "2001:db8::1"), "w1": ("False", "")}
    assert nodes.node_states(master) == {"cp": "True", "w1": "False"}
    with pytest.raises(runner.StepError) as err:
        nodes.wait_ready(master, ["cp", "w1", "w2"], timeout=0, interval=0)
    assert "w1 (False), w2 (not registered)" in str(err.value)


def test_wait_ready_watches_a_registered_node_and_polls_only_for_unregistered_ones():
    ready = LISTING.replace('"False"', '"True"')
    listings = iter([Result(LISTING.replace('"w1"', '"w0"'), "", 0), Result(LISTING, "", 0), Result(ready, "", 0)])

    class Master(FakeHost):
        def run(self, command, stdin="", sudo=False, timeout=None):
            self.commands.append(command.text)
            return next(listings) if " get nodes " in command.text else Result("", "", 0)

    master = Master()
    nodes.wait_ready(master, ["cp", "w1"], timeout=600, interval=0, watch_slice=7)
    waits = [c for c in master.commands if " wait " in c]
    assert waits == [f"{nodes.KUBECTL} wait --for=condition=Ready node/w1 --timeout=7s"]
    assert len(master.commands) == 4 and master.logged == ["nodes Ready: cp, w1"]


def test_wait_ready_pauses_after_a_failed_wait_instead_of_asking_again_at_once(monkeypatch):
    listings = iter([Result(LISTING, "", 0), Result(LISTING.replace('"False"', '"True"'), "", 0)])
    slept = []
    monkeypatch.setattr(nodes.time, "sleep", slept.append)

    class Master(FakeHost):
        def run(self, command, stdin="", sudo=False, timeout=None):
            self.commands.append(command.text)
            return next(listings) if " get nodes " in command.text else Result("", "error: the server is restarting", 1)

    nodes.wait_ready(Master(), ["cp", "w1"], timeout=600, interval=3)
    assert slept == [3]


def test_wait_master_names_the_master_and_the_way_out():
    master = FakeHost({"kubectl": Result("", "connection refused", 1)})
    with pytest.raises(runner.StepError) as err:
        join.wait_master(master, lambda host: facts_of({"owner": MARK}), CLUSTER_ID, timeout=0, interval=0)
    assert "10.9.9.9: the master was not initialised within 0 s" in str(err.value)
    with pytest.raises(runner.StepError) as err:
        join.wait_master(master, lambda host: facts_of({}), CLUSTER_ID, timeout=600, interval=0,
                         failure=lambda: "configure: 10.9.9.9: apt-get install failed")
    assert "the master failed (configure: 10.9.9.9: apt-get install failed), so no minion can join" in str(err.value)
    ready = facts_of({"owner": MARK, "has_admin_conf": True, "recorded": {"kubernetes_version": "1.31"},
                      "ca_cert_pem": "PEM"})
    master = FakeHost({"kubectl": Result(LISTING, "", 0)})
    assert join.wait_master(master, lambda host: ready, CLUSTER_ID, timeout=0) is ready
    # another cluster's master, or one whose init failed half way (no record), is never joined
    for other in ({**ready.__dict__, "owner": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d dep/master"},
                  {**ready.__dict__, "recorded": {}}):
        with pytest.raises(runner.StepError, match="was not initialised within 0 s"):
            join.wait_master(master, lambda host, other=other: host_facts.Facts(**other), CLUSTER_ID, timeout=0,
                             interval=0)


def test_wait_master_waits_on_the_master_for_its_init_record_instead_of_gathering_facts_again():
    ready = facts_of({"owner": MARK, "has_admin_conf": True, "recorded": {"kubernetes_version": "1.31"},
                      "ca_cert_pem": "PEM"})
    seen = iter([facts_of({"owner": MARK}), ready])
    master = FakeHost({"kubectl": Result(LISTING, "", 0)})
    assert join.wait_master(master, lambda host: next(seen), CLUSTER_ID, timeout=60, interval=5) is ready
    waits = [c for c in master.commands if c.startswith("timeout ")]
    assert waits == ["timeout 5 sh -c 'until [ -s /var/lib/kub/cluster.env ]; do sleep 0.2; done'"]


def test_remove_nodes_names_each_node_with_its_address_under_the_lock():
    master = FakeHost({"remove-nodes.sh": Result("changed: drained and deleted node w1\n", "", 0)})
    assert drain.remove_nodes(master, CLUSTER_ID, {"w2": "10.0.0.3", "w1": "10.0.0.2"}, DrainSettings()) == \
        ["drained and deleted node w1"]
    name, env, _, lock = master.scripts[0]
    assert env["KUB_NODES"] == "w1=10.0.0.2 w2=10.0.0.3" and env["KUB_CLUSTER_ID"] == CLUSTER_ID and lock
    assert env["KUB_DRAIN_TIMEOUT"] == 120 and env["KUB_FORCE_DRAIN"] == "no"
    forced = FakeHost()
    drain.remove_nodes(forced, CLUSTER_ID, {"w1": "10.0.0.2"}, DrainSettings(drain_timeout=15, force_drain=True))
    assert forced.scripts[0][1]["KUB_DRAIN_TIMEOUT"] == 15 and forced.scripts[0][1]["KUB_FORCE_DRAIN"] == "yes"


def pod(name, labels, namespace="shop", owner="ReplicaSet", **extra):
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "ownerReferences": [{"kind": owner, "name": "x"}], **extra}, "status": {"phase": "Running"}}


def budget(name, selector, namespace="shop"):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"minAvailable": 2, "selector": selector}}


PODS_LEFT = [pod("web-1", {"app": "web", "tier": "front"}), pod("db-1", {"app": "db"}),
             pod("flannel-x", {"app": "web"}, owner="DaemonSet"), pod("web-2", {"app": "web"}, namespace="other")]
BUDGETS = [budget("web", {"matchLabels": {"app": "web"}}),
           budget("front", {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}),
           budget("not-db", {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db", "web"]}]}),
           budget("nothing", None), budget("elsewhere", {"matchLabels": {"app": "web"}}, namespace="third")]


def test_a_drain_held_by_budgets_names_them_their_pods_and_the_ways_out():
    kubectl_failed = Result("", "error: draining node w1 failed: error when evicting pods/\"web-1\" -n \"shop\": "
                                "global timeout reached: 10s\n", 1)
    master = FakeHost({"remove-nodes.sh": kubectl_failed,
                       f"{nodes.KUBECTL} get pods -A --field-selector spec.nodeName=w1": Result(
                           json.dumps({"items": PODS_LEFT}), "", 0),
                       f"{nodes.KUBECTL} get poddisruptionbudgets -A": Result(json.dumps({"items": BUDGETS}), "", 0)})
    with pytest.raises(runner.StepError) as err:
        drain.remove_nodes(master, CLUSTER_ID, {"w1": "10.0.0.2"}, DrainSettings(drain_timeout=10))
    assert str(err.value) == (
        "10.9.9.9: draining node w1 did not finish within 10 s, held by PodDisruptionBudgets shop/front (protecting "
        "shop/web-1); shop/web (protecting shop/web-1): raise drain_timeout, change the budget, or set force_drain: "
        "true (the node's pods are then deleted without eviction)")


def test_a_drain_that_failed_for_another_reason_keeps_its_own_error():
    failed = Result("", "error: draining node w1 failed: nodes \"w1\" is forbidden\n", 1)
    master = FakeHost({"remove-nodes.sh": failed, f"{nodes.KUBECTL} get pods": Result('{"items": []}', "", 0),
                       f"{nodes.KUBECTL} get poddisruptionbudgets": Result(json.dumps({"items": BUDGETS}), "", 0)})
    with pytest.raises(runner.StepError, match='^10.9.9.9: remove nodes failed: draining node w1 failed: nodes "w1" '
                       'is forbidden$'):
        drain.remove_nodes(master, CLUSTER_ID, {"w1": "10.0.0.2"}, DrainSettings())


def test_join_token_is_fresh_short_lived_and_removed_by_its_id():
    master = FakeHost({"kubeadm token create": Result(TOKEN + "\n", "", 0)})
    assert join.join_token(master) == TOKEN
    assert "--ttl 30m" in master.commands[0] and TOKEN not in master.commands[0]
    join.delete_token(master, TOKEN)
    assert master.commands[1] == "kubeadm token delete abcdef"


def test_unexpected_token_output_is_not_echoed_in_the_error():
    odd = "token: abcdef.0123456789abcdef\n"
    master = FakeHost({"kubeadm token create": Result(odd, "", 0)})
    with pytest.raises(runner.StepError) as err:
        join.join_token(master)
    assert "0123456789abcdef" not in str(err.value)


class FakeChannel:
    """A paramiko channel to a command that takes its input `window` bytes at most (None: all of it), then exits
    with `code` once it has it all, or (`exit_when_stuck`) as soon as it takes no more."""

    def __init__(self, window=None, code=0, exit_when_stuck=False):
        self.window, self.code, self.exit_when_stuck = window, code, exit_when_stuck
        self.received, self.eof_sent, self.eof_received, self.timeout = bytearray(), False, False, None

    def settimeout(self, seconds):
        self.timeout = seconds

    def exec_command(self, command):
        pass

    def send_ready(self):
        return self.window is None or len(self.received) < self.window

    def send(self, data):
        assert self.send_ready(), "a send that would block on a full window"
        room = len(data) if self.window is None else min(len(data), self.window - len(self.received))
        taken = min(room, 32768)   # one packet at most, as paramiko sends
        self.received += bytes(data[:taken])
        return taken

    def shutdown_write(self):
        self.eof_sent = True

    def exit_status_ready(self):
        # it has no output: its EOF comes with its exit status
        self.eof_received = self.eof_sent or (self.exit_when_stuck and not self.send_ready())
        return self.eof_received

    def recv_ready(self):
        return False

    def recv_stderr_ready(self):
        return False

    def recv_exit_status(self):
        return self.code

    def close(self):
        pass


class LateOutputChannel(FakeChannel):
    """A channel whose exit status arrives before its output, as sshd may send them for a long output."""

    def __init__(self, output):
        super().__init__()
        self.pending, self.polls = [output[:40000], output[40000:]], 0

    def exit_status_ready(self):
        return True

    def recv_ready(self):
        self.polls += 1
        return self.polls > 2 and bool(self.pending)   # nothing at the first look after the exit status

    def recv(self, size):
        chunk = self.pending.pop(0)
        self.eof_received = not self.pending
        return chunk

    def recv_exit_status(self):
        return 0


def host_on(channel, monkeypatch):
    """A hosts.ssh.Host whose only channel is `channel`."""
    import time

    from kub_plugin.hosts import ssh
    transport = type("Transport", (), {"open_session": lambda self, timeout: channel, "is_active": lambda self: True})
    host = ssh.Host.__new__(ssh.Host)
    host.settings, host.ip = SshSettings(ip="10.9.9.9", user="root", private_key_path="/k"), "10.9.9.9"
    host._conn = type("Conn", (), {"transport": transport()})()
    monkeypatch.setattr(ssh.select, "select", lambda r, w, x, wait: time.sleep(min(wait, 0.01)))
    return host


def test_a_command_s_output_is_read_to_its_end_when_the_exit_status_comes_first(monkeypatch):
    output = b'{"items": [' + b'{"metadata": {"name": "node"}}, ' * 3000 + b'{}]}'
    host = host_on(LateOutputChannel(output), monkeypatch)
    result = host._exec("kubectl get nodes -o json", "", 60, "listing nodes")
    assert len(output) > 65536 and result.stdout == output.decode() and json.loads(result.stdout)


def test_a_large_stdin_is_sent_whole_then_its_eof_with_a_channel_timeout(monkeypatch):
    channel = FakeChannel()
    payload = bytes(range(256)) * 20000   # 5 MB: many packets
    assert host_on(channel, monkeypatch)._exec("cat > /x", payload, 60, "the upload of /x").ok
    assert channel.received == payload and channel.eof_sent and channel.timeout


def test_stdin_a_command_does_not_take_fails_at_its_deadline_naming_the_host_and_the_step(monkeypatch):
    """The command waits for a lock another run holds and reads nothing meanwhile: the send does not block on the
    full window, and the deadline is a RemoteError, not a lost connection (which cfy would retry)."""
    from kub_plugin import errors
    channel = FakeChannel(window=2 * 1024 * 1024)
    host = host_on(channel, monkeypatch)
    with pytest.raises(errors.RemoteError) as err:
        host._exec("flock /var/lib/kub/lock bash -s", b"x" * 5_000_000, 1, "reset.sh")
    assert not isinstance(err.value, errors.ConnectionLost)
    assert str(err.value).startswith("10.9.9.9: reset.sh did not finish within 1 s (it took 2097152 of the "
                                     "5000000 bytes of its input): check the host")
    assert "\n" not in str(err.value) and not channel.eof_sent


def test_a_command_that_exits_without_taking_its_stdin_gives_its_exit_code(monkeypatch):
    """flock gave up waiting for the lock (its exit code) before the script was read: that is the answer, not a
    lost connection."""
    from kub_plugin.hosts.payload import LOCK_BUSY
    channel = FakeChannel(window=65536, code=LOCK_BUSY, exit_when_stuck=True)
    result = host_on(channel, monkeypatch)._exec("flock -w 5 -E 75 /var/lib/kub/lock bash -s", b"x" * 500_000, 60,
                                                 "reset.sh")
    assert result.exit_code == LOCK_BUSY and len(channel.received) == 65536


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_lock_line_of_a_run_and_of_a_dry_run(dry_run, tmp_path):
    """A run makes the lock's folder; a dry run makes nothing: it takes the lock only where its file is, and else runs
    the script without one (run here with a stand-in flock, in a folder that is not there)."""
    lock = tmp_path / "kub" / "lock"
    flock = tmp_path / "bin" / "flock"
    flock.parent.mkdir()
    flock.write_text('#!/bin/sh\necho "flock $*"\n')
    flock.chmod(0o755)
    out = subprocess.run(["sh", "-c", locked_bash(str(lock), 30, dry_run=dry_run)], input="echo script ran\n",
                         text=True, capture_output=True, env={"PATH": f"{flock.parent}:/usr/bin:/bin"}).stdout
    if dry_run:
        assert out == "script ran\n" and not lock.parent.exists()
    else:
        assert out == f"flock -w 30 -E {LOCK_BUSY} {lock} bash -s\n" and lock.parent.is_dir()
    lock.parent.mkdir(exist_ok=True)
    lock.touch()
    out = subprocess.run(["sh", "-c", locked_bash(str(lock), 30, dry_run=dry_run)], input="", text=True,
                         capture_output=True, env={"PATH": f"{flock.parent}:/usr/bin:/bin"}).stdout
    assert out == f"flock -w 30 -E {LOCK_BUSY} {lock} bash -s\n"


def test_a_plan_tells_each_change_with_its_sign_and_each_quiet_host():
    plan = Plan(["10.0.0.11", "10.0.0.12", "10.0.0.13"])
    plan.add("10.0.0.12", ["installed containerd 2.1.9 and runc 1.3.3 under /usr/local", "restarted containerd"])
    plan.add("10.0.0.11", ["kubeadm init (its bootstrap token removed)", 'deployment.apps "web" deleted'])
    plan.add("10.0.0.11", ["kubeadm reset", "configmap/sky created", "removed /etc/sysctl.d/k8s.conf"])
    plan.add("10.0.0.13", [])
    assert plan.lines() == [
        "+ 10.0.0.11 kubeadm init (its bootstrap token removed)", '- 10.0.0.11 deployment.apps "web" deleted',
        "- 10.0.0.11 kubeadm reset", "+ 10.0.0.11 configmap/sky created", "- 10.0.0.11 removed /etc/sysctl.d/k8s.conf",
        "+ 10.0.0.12 installed containerd 2.1.9 and runc 1.3.3 under /usr/local", "~ 10.0.0.12 restarted containerd",
        "= 10.0.0.13 no change"]
    logged = []
    plan.report(type("Logger", (), {"info": lambda self, line: logged.append(line)})(), "the install of d/master")
    assert logged[0] == "plan of the install of d/master: 7 changes on 2 of 3 hosts (nothing was changed)"
    assert logged[1:] == plan.lines()
    assert Plan(["10.0.0.11"]).empty and not plan.empty


def test_a_host_opened_for_a_plan_runs_scripts_in_plan_mode_and_its_changes_go_to_the_plan():
    plan = Plan([FakeHost().ip])
    host = FakeHost({"packages.sh": Result("would: held kubelet\nchanged: not this\nnote: a note\n", "", 0)},
                    plan=plan)
    assert runner.apply(host, "packages", scripts.PACKAGES.call(repo_url="http://r/", repo_key="KEY",
                                                                install="kubelet=1.36.2-1.1")) == ["held kubelet"]
    assert plan.lines() == [f"~ {host.ip} held kubelet"]
    assert host.logged == ["a note"]   # no `packages: ...` line: the plan tells it
