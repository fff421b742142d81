"""SSH keys as most people hold them, through the real cfy CLI: only in an ssh-agent, or protected by a
passphrase (ssh.private_key_passphrase; the key and the known_hosts lines as text, as on a manager); and a failed
login is kub's one line, with no third-party traceback."""
import os
import re
import shutil
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from e2e_support import SPARE, assert_refused, cluster_inputs

pytestmark = pytest.mark.lab
AGENT_HOST, PASSPHRASE_HOST = SPARE
PASSPHRASE = "kub lab passphrase 7"


@pytest.fixture
def agent(lab, tmp_path):
    """An ssh-agent of its own holding the lab's key: its environment (SSH_AUTH_SOCK, SSH_AGENT_PID)."""
    out = subprocess.run(["ssh-agent", "-s", "-a", str(tmp_path / "agent.sock")], check=True, text=True,
                         capture_output=True).stdout
    env = dict(re.findall(r"(SSH_AUTH_SOCK|SSH_AGENT_PID)=([^;]+);", out))
    try:
        subprocess.run(["ssh-add", "-q", lab.ssh_private_key_path], check=True, env={**os.environ, **env},
                       capture_output=True)
        yield env
    finally:
        os.kill(int(env["SSH_AGENT_PID"]), signal.SIGTERM)


def protected_copy(lab, tmp_path):
    """The lab's key, protected by PASSPHRASE."""
    path = tmp_path / "protected_key"
    shutil.copy(lab.ssh_private_key_path, path)
    path.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", PASSPHRASE, "-f", str(path)], check=True)
    return str(path)


def test_a_key_only_in_an_ssh_agent_and_a_passphrase_protected_key_install(lab, pristine_hosts, new_cfy,
                                                                          agent, tmp_path):
    with_agent = new_cfy()
    with_agent.env.update(agent)
    with_agent.init(cluster_inputs(lab, master=AGENT_HOST, minions=(), ssh_private_key_path=""))
    # as on a manager, where no file of the user's is: the key and the known_hosts lines as text (from secrets
    # there), and the key's passphrase alone opens it
    with_passphrase = new_cfy()
    with_passphrase.env.pop("SSH_AUTH_SOCK", None)
    key_text = open(protected_copy(lab, tmp_path)).read()
    with_passphrase.init(cluster_inputs(lab, master=PASSPHRASE_HOST, minions=(),
                                        ssh_private_key_path=str(tmp_path / "no-such-key"),
                                        ssh_private_key=key_text, ssh_private_key_passphrase=PASSPHRASE,
                                        ssh_known_hosts_path=str(tmp_path / "no-such-known-hosts"),
                                        ssh_known_hosts=lab.known_hosts()))
    clusters = {AGENT_HOST: with_agent, PASSPHRASE_HOST: with_passphrase}
    try:
        with ThreadPoolExecutor(2) as pool:
            outs = list(pool.map(lambda cfy: cfy.install().stdout, clusters.values()))
        for (host, cfy), out in zip(clusters.items(), outs):
            assert "'install' workflow execution succeeded" in out
            assert cfy.outputs()["node_names"] == {"master": [f"kubh{host}"], "minions": []}
            nodes = lab.exec(host, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes --no-headers").stdout
            assert nodes.split()[:2] == [f"kubh{host}", "Ready"], nodes
        # the passphrase and the key are in no event, log line or runtime property
        secret_line = key_text.splitlines()[1]
        instances = with_passphrase.run("node-instances", "-b", with_passphrase.blueprint_id).stdout
        for secret in (PASSPHRASE, secret_line):
            assert secret not in outs[1] and secret not in instances
        with ThreadPoolExecutor(2) as pool:
            uninstalled = list(pool.map(lambda cfy: cfy.uninstall().stdout, clusters.values()))
        assert PASSPHRASE not in uninstalled[1]
        for host in clusters:
            assert lab.exec(host, "test -e /var/lib/kub/owner", check=False).returncode != 0
    finally:
        pristine_hosts(*clusters)


def test_a_wrong_passphrase_is_one_line(lab, new_cfy, tmp_path):
    key = protected_copy(lab, tmp_path)
    cfy = assert_refused(lab, new_cfy, cluster_inputs(lab, master=PASSPHRASE_HOST, minions=(),
                                                      ssh_private_key_path=key,
                                                      ssh_private_key_passphrase="not the passphrase"),
                         f"{lab.host_ip(PASSPHRASE_HOST)}: ssh_private_key_passphrase does not open "
                         f"ssh_private_key_path {key}: give that key's passphrase")
    assert "not the passphrase" not in cfy.run("node-instances", "-b", cfy.blueprint_id).stdout


def test_a_protected_key_without_its_passphrase_names_both_ways_out(lab, new_cfy, tmp_path):
    assert_refused(lab, new_cfy, cluster_inputs(lab, master=PASSPHRASE_HOST, minions=(),
                                                ssh_private_key_path=protected_copy(lab, tmp_path)),
                   "is protected by a passphrase: set ssh_private_key_passphrase (on a manager from a secret), or "
                   "load the key into an ssh-agent (ssh-add) and give no key")


def test_an_empty_agent_or_none_is_one_line(lab, new_cfy, agent):
    subprocess.run(["ssh-add", "-D"], check=True, env={**os.environ, **agent}, capture_output=True)
    cfy = new_cfy()
    cfy.env.update(agent)
    cfy.init(cluster_inputs(lab, master=AGENT_HOST, minions=(), ssh_private_key_path=""))
    result = cfy.install(check=False)
    assert result.returncode != 0
    assert f"{lab.host_ip(AGENT_HOST)}: the ssh-agent at SSH_AUTH_SOCK {agent['SSH_AUTH_SOCK']} holds no key" \
        in result.stdout
    without = new_cfy()
    without.env.pop("SSH_AUTH_SOCK", None)
    without.init(cluster_inputs(lab, master=AGENT_HOST, minions=(), ssh_private_key_path=""))
    result = without.install(check=False)
    assert f"{lab.host_ip(AGENT_HOST)}: no SSH credential: set ssh_private_key_path, ssh_private_key or " \
           f"ssh.password, or run cfy with an ssh-agent that holds the key (SSH_AUTH_SOCK)" in result.stdout


@pytest.mark.parametrize("case", ["wrong key", "no sshd protocol"])
def test_a_failed_login_or_handshake_prints_kubs_line_only(lab, new_cfy, tmp_path, case):
    if case == "wrong key":
        stranger = tmp_path / "stranger"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
        inputs = cluster_inputs(lab, master=AGENT_HOST, minions=(), ssh_private_key_path=str(stranger))
        expected = f"{lab.host_ip(AGENT_HOST)}: SSH login as 'root' was refused"
    else:   # a port that answers, but not with SSH
        lab.exec(AGENT_HOST, "systemd-run --unit kub-test-http python3 -m http.server 2299")
        lab.exec(AGENT_HOST, "for t in $(seq 50); do grep -q ':08FB ' /proc/net/tcp && break; sleep 0.1; done")
        inputs = cluster_inputs(lab, master=AGENT_HOST, minions=(), ssh_port=2299)
        expected = f"{lab.host_ip(AGENT_HOST)}: SSH handshake on port 2299 failed"
    try:
        cfy = assert_refused(lab, new_cfy, inputs, expected)
        out = cfy.install(check=False).stdout
    finally:
        lab.exec(AGENT_HOST, "systemctl stop kub-test-http", check=False)
    assert "paramiko" not in out and "Exception (client)" not in out, out[-3000:]
    assert len([line for line in out.splitlines() if expected in line]) >= 1
