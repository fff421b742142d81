"""Steps checked without hosts: facts and inputs in, commands and verdicts out."""
import subprocess
from pathlib import Path

import pytest
import yaml

from kub_plugin import facts as host_facts
from kub_plugin import steps
from kub_plugin.config import ClusterSettings, SshSettings
from kub_plugin.connection import Result

CASES = yaml.safe_load((Path(__file__).parent / "data" / "preflight.yaml").read_text())
CLUSTER_ID = "dep/master"


class FakeHost:
    """Records what would run on a host; answers from a table of canned results."""

    def __init__(self, answers=None, user="root"):
        self.ip = "10.9.9.9"
        self.settings = SshSettings(ip=self.ip, user=user, private_key_path="/k")
        self.answers = answers or {}
        self.commands, self.scripts, self.logged = [], [], []

    def log(self, message):
        self.logged.append(message)

    def run(self, command, stdin="", sudo=False, timeout=None):
        self.commands.append(command)
        for prefix, result in self.answers.items():
            if command.startswith(prefix):
                return result
        return Result("", "", 0)

    def run_script(self, name, env=None, secret_env=None, timeout=None):
        self.scripts.append((name, env or {}, secret_env or {}))
        return self.answers.get(name, Result("changed: did it\n", "", 0))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_preflight(case):
    facts = host_facts.Facts(**{**case["facts"], "listening": frozenset(case["facts"].get("listening", []))})
    if "error" in case:
        with pytest.raises(steps.StepError) as err:
            steps.preflight(FakeHost(), facts, case["role"], CLUSTER_ID)
        assert case["error"] in str(err.value)
        assert str(err.value).startswith("10.9.9.9: ")
    else:
        assert steps.preflight(FakeHost(), facts, case["role"], CLUSTER_ID) == case["profile"]


def test_facts_parse():
    text = ("os_id=ubuntu\nos_version=24.04\narch=aarch64\nhostname=Node-A\nswap_devices=1\nip_forward=0\n"
            "listening=22 6443\nhas_kubelet_conf=yes\nowner=dep/master\nkubelet_active=active\n"
            "packages=kubeadm=1.31.2-1.1 containerd=1.7.24\n")
    facts = host_facts.parse(text)
    assert (facts.os_id, facts.os_version, facts.arch) == ("ubuntu", "24.04", "aarch64")
    assert facts.node_name == "node-a"
    assert facts.listening == {22, 6443}
    assert facts.has_kubelet_conf and not facts.has_admin_conf
    assert facts.kubelet_active and facts.swap_devices == 1
    assert facts.packages == {"kubeadm": "1.31.2-1.1", "containerd": "1.7.24"}


def test_init_command_pins_version_and_prints_no_token():
    cluster = ClusterSettings(pod_network_cidr="10.244.0.0/16", service_cidr="10.96.0.0/12")
    command = steps.init_command(cluster, "10.0.0.1", "cp-1", "v1.31.2")
    assert command[:2] == ["kubeadm", "init"]
    assert "--apiserver-advertise-address=10.0.0.1" in command
    assert "--control-plane-endpoint=10.0.0.1:6443" in command
    assert "--pod-network-cidr=10.244.0.0/16" in command
    assert "--service-cidr=10.96.0.0/12" in command
    assert "--kubernetes-version=v1.31.2" in command
    assert "--skip-token-print" in command
    assert not any(arg.startswith("--upload-certs") for arg in command)


def test_init_command_brackets_ipv6():
    command = steps.init_command(ClusterSettings(), "fd00::1", "cp", "v1.31.2")
    assert "--control-plane-endpoint=[fd00::1]:6443" in command


def test_prepare_passes_os_data_and_repository_to_scripts():
    host = FakeHost()
    cluster = ClusterSettings(kubernetes_version="1.30", package_repository_url="http://mirror/v{version}/deb/")
    steps.prepare(host, {"containerd_package": "containerd.io"}, cluster, "KEY")
    names = [name for name, _, _ in host.scripts]
    assert names == ["prepare-host.sh", "containerd.sh", "kubernetes-packages.sh"]
    assert host.scripts[1][1] == {"KUB_CONTAINERD_PACKAGE": "containerd.io"}
    assert host.scripts[2][1] == {"KUB_VERSION": "1.30", "KUB_REPO_URL": "http://mirror/v1.30/deb/",
                                  "KUB_REPO_KEY": "KEY"}
    assert host.logged[0] == "kernel and swap: did it"


def test_unchanged_step_logs_no_change():
    host = FakeHost({"prepare-host.sh": Result("", "", 0)})
    assert steps.apply(host, "kernel and swap", "prepare-host.sh") == []
    assert host.logged == ["kernel and swap: no change"]


def test_join_sends_the_token_as_a_secret_and_never_logs_it():
    token = "abcdef.0123456789abcdef"
    host = FakeHost()
    facts = host_facts.Facts(hostname="w1")
    joined = steps.join(host, facts, ClusterSettings(), CLUSTER_ID, "sha256:aa",
                        lambda: ("10.0.0.1:6443", token, "sha256:aa"), registered={})
    assert joined
    name, env, secret_env = host.scripts[0]
    assert name == "join.sh"
    assert secret_env == {"KUB_JOIN_TOKEN": token}
    assert token not in str(env) and all(token not in line for line in host.logged)
    assert env["KUB_NODE_NAME"] == "w1" and env["KUB_OWNER"] == CLUSTER_ID


def test_failed_join_error_has_the_token_redacted():
    token = "abcdef.0123456789abcdef"
    host = FakeHost({"join.sh": Result("", f"error: kubeadm said {token} is bad\n", 1)})
    with pytest.raises(steps.StepError) as err:
        steps.join(host, host_facts.Facts(hostname="w1"), ClusterSettings(), CLUSTER_ID, "sha256:aa",
                   lambda: ("10.0.0.1:6443", token, "sha256:aa"), registered={})
    assert token not in str(err.value) and "***" in str(err.value)


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
    facts = host_facts.Facts(hostname="w1", has_kubelet_conf=True, owner=CLUSTER_ID, ca_cert_pem=ca_pem)
    asked = []
    joined = steps.join(host, facts, ClusterSettings(), CLUSTER_ID, host_facts.ca_cert_hash(ca_pem),
                        lambda: asked.append(1), registered={"w1": "True"})
    assert not joined and not asked and not host.scripts and not host.commands


def test_stale_join_of_ours_is_reset_then_joined_again():
    host = FakeHost()
    facts = host_facts.Facts(hostname="w1", has_kubelet_conf=True, owner=CLUSTER_ID)
    steps.join(host, facts, ClusterSettings(), CLUSTER_ID, "sha256:new",
               lambda: ("10.0.0.1:6443", "abcdef.0123456789abcdef", "sha256:new"), registered={})
    assert host.commands[0].startswith("kubeadm reset -f")
    assert host.scripts[0][0] == "join.sh"


def test_node_states_and_wait_ready_report_what_is_missing():
    listing = ('{"items": [{"metadata": {"name": "cp"}, "status": {"conditions": '
               '[{"type": "Ready", "status": "True"}]}}, {"metadata": {"name": "w1"}, "status": {"conditions": '
               '[{"type": "Ready", "status": "False"}]}}]}')
    master = FakeHost({"kubectl": Result(listing, "", 0)})
    assert steps.node_states(master) == {"cp": "True", "w1": "False"}
    with pytest.raises(steps.StepError) as err:
        steps.wait_ready(master, ["cp", "w1", "w2"], timeout=0, interval=0)
    assert "w1 (False), w2 (not registered)" in str(err.value)


def test_remove_node_drains_then_deletes_and_skips_absent_nodes():
    listing = '{"items": [{"metadata": {"name": "w1"}, "status": {}}]}'
    master = FakeHost({"kubectl --kubeconfig /etc/kubernetes/admin.conf get": Result(listing, "", 0)})
    assert steps.remove_node(master, "w1")
    assert "drain w1 --ignore-daemonsets --delete-emptydir-data --force" in master.commands[1]
    assert "delete node w1 --ignore-not-found" in master.commands[2]
    assert not steps.remove_node(master, "w2")


def test_join_command_parsed_from_fresh_token_output():
    out = "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:ff \n"
    master = FakeHost({"kubeadm token create": Result(out, "", 0)})
    assert steps.join_command(master) == ("10.0.0.1:6443", "abcdef.0123456789abcdef", "sha256:ff")
    assert "--ttl" in master.commands[0]


def test_unexpected_token_output_is_not_echoed_in_the_error():
    odd = "token: abcdef.0123456789abcdef\n"
    master = FakeHost({"kubeadm token create": Result(odd, "", 0)})
    with pytest.raises(steps.StepError) as err:
        steps.join_command(master)
    assert "0123456789abcdef" not in str(err.value)
