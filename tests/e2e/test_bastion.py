"""Hosts this machine reaches only through a bastion (jump host), with the real cfy CLI: the lab isolates hosts 2
and 3 from this machine (`kub-lab isolate`), host 1, no member of the cluster, is the bastion. A cluster is installed
through it, a kub_* workflow runs through it, the API is reached here through a tunnel over it as the README says,
and uninstall leaves the hosts clean and the bastion as it was; a bastion whose host key is wrong or unknown is
refused before any host changes, in one line naming the bastion and the fix."""
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml
from e2e_support import assert_refused, cluster_inputs, host_files, host_state

from kub_lab import repo
from kub_lab.lab import KUBERNETES_VERSION
from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.errors import RemoteError, Unreachable
from kub_plugin.hosts.parallel import on_hosts
from kub_plugin.hosts.ssh import Host

pytestmark = pytest.mark.lab
BASTION, MASTER, MINION = 1, 2, 3
BEHIND = (MASTER, MINION)
BASTION_USER = "kub"   # a plain login on the bastion: forwarding needs no root there


@pytest.fixture
def isolated(lab, pristine_hosts):
    """Hosts 2 and 3 reachable from here only through host 1; afterwards reachable again, with fresh disks."""
    lab.isolate(*BEHIND)
    try:
        yield lab
    finally:
        lab.unisolate()
        pristine_hosts(*BEHIND)


def bastion_inputs(lab, **overrides):
    return cluster_inputs(lab, master=MASTER, minions=(MINION,), ssh_bastion_address=lab.host_ip(BASTION),
                          ssh_bastion_user=BASTION_USER, ssh_bastion_private_key_path=lab.ssh_private_key_path,
                          **overrides)


def reaches(address, port=22):
    try:
        socket.create_connection((address, port), timeout=5).close()
        return True
    except OSError:
        return False


def test_isolated_hosts_are_reached_only_through_the_bastion(isolated):
    lab = isolated
    assert lab.isolated() == list(BEHIND)
    assert not reaches(lab.host_ip(MASTER)) and not reaches(lab.host_ip(MINION))
    assert reaches(lab.host_ip(BASTION))
    # the hosts still reach each other and the lab service (their apt proxy)
    probe = "timeout 5 bash -c 'exec 3<>/dev/tcp/{}/{}' && echo open"
    assert lab.exec(BASTION, probe.format(lab.host_ip(MASTER), 22)).stdout == "open\n"
    assert lab.exec(MASTER, probe.format(lab.host_ip(MINION), 22)).stdout == "open\n"
    assert lab.exec(MINION, probe.format(lab.bridge_ip, 3142)).stdout == "open\n"
    # the command line: `kub-lab unisolate I` and `status`
    cli = [sys.executable, "-m", "kub_lab.cli", "--index", str(lab.index)]
    subprocess.run([*cli, "unisolate", str(MINION)], check=True)
    status = yaml.safe_load(subprocess.run([*cli, "status"], check=True, capture_output=True, text=True).stdout)
    assert {i: host["isolated"] for i, host in status["hosts"].items()} == {i: i == MASTER for i in status["hosts"]}
    assert lab.isolated() == [MASTER] and reaches(lab.host_ip(MINION))


def settings(lab, ip, host_port=22, user="root", **bastion):
    return ssh_settings({"ssh": {"private_key_path": lab.ssh_private_key_path, "known_hosts_path": lab.known_hosts_path,
                                 "connect_timeout": 5, "port": host_port, "user": user,
                                 "bastion": {"address": lab.host_ip(BASTION), "user": BASTION_USER,
                                             "private_key_path": lab.ssh_private_key_path, **bastion}}}, ip)


def test_hosts_behind_one_bastion_share_one_connection_to_it(isolated):
    lab = isolated
    here = lab.bridge_ip

    def work(host):
        # while both hosts are open: this machine's SSH connections the bastion sees
        time.sleep(1)
        seen = lab.exec(BASTION, f"ss -Htn state established '( sport = :22 )' dst {here}").stdout
        return host.run("hostname").stdout.strip(), len(seen.splitlines())

    found = on_hosts([settings(lab, lab.host_ip(i)) for i in BEHIND], logging.getLogger("kub-test"), work)
    assert {ip: name for ip, (name, _) in found.items()} == {lab.host_ip(i): f"kubh{i}" for i in BEHIND}
    assert {count for _, count in found.values()} == {1}, found
    # closed with the last host behind it (the bastion's sshd sees it end a moment later)
    left = f"for t in $(seq 50); do ss -Htn state established '( sport = :22 )' dst {here} | grep -q . || exit 0; " \
           f"sleep 0.1; done; exit 1"
    assert lab.exec(BASTION, left, check=False).returncode == 0


def test_hosts_closing_beside_a_busy_one_leave_the_bastion_s_connection_working(isolated):
    """Each host's connection is a channel of the one connection to the bastion; closing one must not break the
    others (sshd ends the whole connection on data for a channel it closed)."""
    lab = isolated
    results, done = [], threading.Event()

    def busy():
        with Host(settings(lab, lab.host_ip(MASTER)), logging.getLogger("kub-test")) as host:
            while not done.is_set():
                results.append(host.run("head -c 300000 /dev/zero | base64 | wc -c", sudo=True))

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        for _ in range(60):
            with Host(settings(lab, lab.host_ip(MINION), user="kub"), logging.getLogger("kub-test")) as host:
                assert host.run("true", sudo=True).ok
    finally:
        done.set()
        worker.join()
    assert results and all(r.ok and r.stdout == "405264\n" for r in results), results[-1]


def test_a_bastion_key_as_text_with_a_passphrase_or_only_in_an_ssh_agent(isolated, tmp_path, monkeypatch, caplog):
    lab = isolated
    ip, passphrase = lab.host_ip(MASTER), "bastion passphrase 9"
    key = tmp_path / "bastion_key"
    shutil.copy(lab.ssh_private_key_path, key)
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", passphrase, "-f", str(key)], check=True)
    caplog.set_level(logging.DEBUG)
    as_text = settings(lab, ip, private_key_path="", private_key=key.read_text(), private_key_passphrase=passphrase)
    with Host(as_text, logging.getLogger("kub-test")) as host:
        assert host.run("hostname").stdout == f"kubh{MASTER}\n"
    wrong = settings(lab, ip, private_key_path=str(key), private_key_passphrase="not it")
    with pytest.raises(RemoteError) as err:
        Host(wrong, logging.getLogger("kub-test")).open()
    assert str(err.value) == (f"{ip}: bastion {lab.host_ip(BASTION)}: ssh.bastion.private_key_passphrase does not open "
                              f"ssh.bastion.private_key_path {key}: give that key's passphrase (ssh-keygen -y -f KEY "
                              f"asks for it and tells)")
    # neither key nor key text: the ssh-agent's keys log in to the bastion
    out = subprocess.run(["ssh-agent", "-s", "-a", str(tmp_path / "agent.sock")], check=True, text=True,
                         capture_output=True).stdout
    env = dict(re.findall(r"(SSH_AUTH_SOCK|SSH_AGENT_PID)=([^;]+);", out))
    try:
        subprocess.run(["ssh-add", "-q", lab.ssh_private_key_path], check=True, env={**os.environ, **env},
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        with Host(settings(lab, ip, private_key_path=""), logging.getLogger("kub-test")) as host:
            assert host.run("hostname").stdout == f"kubh{MASTER}\n"
    finally:
        os.kill(int(env["SSH_AGENT_PID"]), signal.SIGTERM)
    assert passphrase not in caplog.text and "not it" not in caplog.text


@pytest.mark.parametrize("case", ["bastion port", "host port"])
def test_which_end_failed_is_one_line(isolated, case):
    lab = isolated
    ip, bastion = lab.host_ip(MASTER), lab.host_ip(BASTION)
    if case == "bastion port":
        wrong, expected = settings(lab, ip, port=2222), (f"{ip}: bastion {bastion}: connection refused on SSH port "
                                                         f"2222: start sshd on the bastion or set ssh.bastion.port")
    else:
        wrong = settings(lab, ip, host_port=2299)
        expected = (f"{ip}: bastion {bastion} cannot connect to SSH port 2299 (Connect failed): check that the host is "
                    f"up, that sshd listens on port 2299 and that the bastion reaches it")
    with pytest.raises(Unreachable) as err:
        Host(wrong, logging.getLogger("kub-test")).open()
    assert str(err.value) == expected


def test_a_cluster_behind_a_bastion_installs_runs_workflows_and_uninstalls_clean(isolated, new_cfy, tmp_path):
    lab = isolated
    bastion_before = host_files(lab, BASTION)
    before = {i: host_state(lab, i) for i in BEHIND}
    cfy = new_cfy()
    cfy.init(bastion_inputs(lab, purge_packages=True))
    out = cfy.install().stdout
    assert "'install' workflow execution succeeded" in out
    outputs = cfy.outputs()
    assert outputs["node_names"] == {"master": [f"kubh{MASTER}"], "minions": [f"kubh{MINION}"]}
    nodes = lab.exec(MASTER, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes --no-headers").stdout
    assert sorted(line.split()[:2] for line in nodes.splitlines()) == [[f"kubh{MASTER}", "Ready"],
                                                                       [f"kubh{MINION}", "Ready"]]

    # a kub_* workflow: kubectl on the master, through the bastion
    out = cfy.execute("kub_get", {"kind": "node"}, options=("--task-retries", "0")).stdout
    assert f"kubh{MINION}" in out and "Ready" in out, out[-2000:]

    # the admin kubeconfig here names the master's API, which this machine reaches through a tunnel over the bastion
    kubeconfig = outputs["kubeconfig_path"]
    assert api_through_tunnel(lab, kubeconfig) == sorted([f"node/kubh{MASTER}", f"node/kubh{MINION}"])

    out = cfy.uninstall().stdout
    assert "'uninstall' workflow execution succeeded" in out
    assert {i: host_state(lab, i) for i in BEHIND} == before
    # the bastion is only passed through: nothing of kub's is left on it
    assert host_files(lab, BASTION) == bastion_before


def api_through_tunnel(lab, kubeconfig):
    """The README's way to the API of a cluster behind a bastion: an ssh tunnel over it to the master's port 6443,
    and kubectl at the tunnel's end, checking the API server's certificate for its name `kubernetes`."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    tunnel = subprocess.Popen(
        ["ssh", "-N", "-L", f"127.0.0.1:{port}:{lab.host_ip(MASTER)}:6443", "-i", lab.ssh_private_key_path,
         "-o", f"UserKnownHostsFile={lab.known_hosts_path}", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
         f"{BASTION_USER}@{lab.host_ip(BASTION)}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if reaches("127.0.0.1", port) or tunnel.poll() is not None:
                break
            time.sleep(0.1)
        assert tunnel.poll() is None, tunnel.stderr.read()
        kubectl = [repo.ensure_kubectl(KUBERNETES_VERSION)["binary"], "--kubeconfig", kubeconfig]
        direct = subprocess.run([*kubectl, "--request-timeout", "5s", "get", "nodes"], capture_output=True, text=True)
        assert direct.returncode != 0   # isolated: the master's address is not reached from here
        listed = subprocess.run([*kubectl, "--server", f"https://127.0.0.1:{port}", "--tls-server-name", "kubernetes",
                                 "get", "nodes", "-o", "name"], capture_output=True, text=True, check=True)
        return sorted(listed.stdout.split())
    finally:
        tunnel.terminate()
        tunnel.wait()


def bastion_key(lab):
    return lab.exec(BASTION, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]


@pytest.mark.parametrize("case", ["wrong pinned key", "unknown key"])
def test_a_bastion_whose_host_key_is_wrong_or_unknown_is_refused_before_any_change(isolated, new_cfy, tmp_path, case):
    lab = isolated
    ip, bastion = lab.host_ip(MASTER), lab.host_ip(BASTION)
    hosts = f"{ip}, {lab.host_ip(MINION)}"   # both fail alike, told once
    if case == "wrong pinned key":
        pinned = "SHA256:" + "A" * 43
        inputs = bastion_inputs(lab, ssh_bastion_host_key_fingerprint=pinned)
        expected = (f"{hosts}: bastion {bastion}: host key {bastion_key(lab)} (ssh-ed25519) does not match the pinned "
                    f"ssh_bastion_host_key_fingerprint {pinned}: if the bastion was reinstalled, pin the new key after "
                    f"checking it on the bastion")
    else:   # a known_hosts file with the hosts' keys but not the bastion's
        known = tmp_path / "known_hosts"
        known.write_text("".join(line for line in lab.known_hosts().splitlines(keepends=True)
                                 if not line.startswith(bastion + " ")))
        inputs = bastion_inputs(lab, ssh_known_hosts_path=str(known))
        expected = (f"{hosts}: bastion {bastion}: unknown host key {bastion_key(lab)} (ssh-ed25519), not in {known}: "
                    f"check it on the bastion (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it "
                    f"(ssh-keyscan -p 22 {bastion} >> {known}) or set ssh_bastion_host_key_fingerprint: "
                    f"{bastion_key(lab)}")
    cfy = assert_refused(lab, new_cfy, inputs, expected, hosts=(BASTION, *BEHIND))
    out = cfy.install(check=False).stdout
    assert "Traceback" not in out and "paramiko" not in out, out[-3000:]
    # with the bastion's own key pinned, the same logins go through
    with Host(settings(lab, ip, host_key_fingerprint=bastion_key(lab)), logging.getLogger("kub-test")) as host:
        assert host.run("hostname").stdout == f"kubh{MASTER}\n"
