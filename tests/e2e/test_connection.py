"""kub's SSH layer against lab hosts: every way to trust a host and to become root."""
import logging
import shlex
import threading
import time

import pytest
from e2e_support import SPARE

from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.errors import ConnectionLost, RemoteError
from kub_plugin.hosts import state
from kub_plugin.hosts.payload import LOCK_BUSY, locked_bash
from kub_plugin.hosts.ssh import Host

pytestmark = pytest.mark.lab
H = SPARE[0]


def settings(lab, **ssh):
    base = {"private_key_path": lab.ssh_private_key_path, "known_hosts_path": lab.known_hosts_path,
            "connect_timeout": 5}
    return ssh_settings({"ssh": {**base, **ssh}}, lab.host_ip(H))


def whoami(lab, **ssh):
    with Host(settings(lab, **ssh), logging.getLogger("kub-test")) as host:
        return host.run("id -un", sudo=True).stdout.strip(), host.run("id -un").stdout.strip()


def fingerprint_of(lab):
    pub = lab.exec(H, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub").stdout
    return pub.split()[1]


@pytest.mark.parametrize("user,extra", [("root", {}), ("kub", {}), ("kubpw", "password")])
def test_every_login_becomes_root_for_steps(lab, user, extra):
    ssh = {"user": user}
    if extra == "password":
        ssh["sudo_password"] = lab.sudo_password
    assert whoami(lab, **ssh) == ("root", user)


def test_sudo_password_travels_on_stdin_never_on_a_command_line(lab):
    seen = []

    def watch():   # what any local user of the host sees in the process table meanwhile
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen:
            out = lab.exec(H, "ps -eo args", check=False).stdout
            if "sleep 2" in out:
                seen.append(out)

    with Host(settings(lab, user="kubpw", sudo_password=lab.sudo_password), logging.getLogger()) as host:
        watcher = threading.Thread(target=watch)
        watcher.start()
        result = host.run("sleep 2; id -un", sudo=True)
        watcher.join()
    assert result.stdout.strip() == "root"
    assert seen and "sudo -S" in seen[0]
    assert lab.sudo_password not in seen[0]


def test_pinned_fingerprint_replaces_known_hosts(lab):
    assert whoami(lab, known_hosts_path="/nonexistent", host_key_fingerprint=fingerprint_of(lab))[0] == "root"


def test_wrong_pinned_fingerprint_is_refused(lab):
    with pytest.raises(RemoteError) as err:
        whoami(lab, host_key_fingerprint="SHA256:" + "A" * 43)
    assert "does not match the pinned ssh.host_key_fingerprint" in str(err.value)
    assert fingerprint_of(lab) in str(err.value)


def test_unchecked_host_key_connects_with_a_warning(lab, caplog):
    caplog.set_level(logging.WARNING)
    assert whoami(lab, known_hosts_path="/nonexistent", verify_host_key=False)[0] == "root"
    assert "host key NOT verified" in caplog.text and fingerprint_of(lab) in caplog.text


def test_private_key_as_text(lab):
    key = open(lab.ssh_private_key_path).read()
    assert whoami(lab, private_key_path="", private_key=key)[0] == "root"


def test_missing_known_hosts_file_is_explained(lab):
    with pytest.raises(RemoteError) as err:
        whoami(lab, known_hosts_path="/nonexistent/known_hosts")
    assert "known_hosts file /nonexistent/known_hosts does not exist" in str(err.value)


def test_a_cut_link_fails_the_step_as_a_lost_connection(lab):
    with Host(settings(lab), logging.getLogger()) as host:
        lab.exec(H, "true")
        timer = threading.Timer(1.0, lab.cut, args=(H,))
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(ConnectionLost) as err:
                host.run("sleep 300", timeout=200)
        finally:
            timer.cancel()
            lab.heal(H)
    assert "the SSH connection was lost" in str(err.value)
    assert time.monotonic() - started < 90     # noticed by the dead-peer timeout, not after 300 s


def test_refused_port_is_explained(lab):
    with pytest.raises(RemoteError) as err:
        whoami(lab, port=2222)
    assert f"{lab.host_ip(H)}: connection refused on SSH port 2222" in str(err.value)


def test_a_large_stdin_waits_for_the_host_s_lock_within_the_command_s_deadline(lab):
    """Another run holds the host's kub lock, so the locked script reads none of its 8 MB input (far more than the
    channel's window): flock giving up is its exit code, the command's deadline a one-line RemoteError naming
    the host and the step (neither a hang nor a lost connection); once the lock is free, all of it arrives."""
    big = "x" * 8_000_000
    payload = f"KUB_BIG='{big}'\necho got ${{#KUB_BIG}}\n"

    def locked(host, lock_wait, timeout):
        command = f"sh -c {shlex.quote(locked_bash(state.LOCK_FILE, lock_wait))}"
        return host._exec(command, payload, timeout, "the locked script")

    made_dir = lab.exec(H, f"test -d {state.KUB_DIR}", check=False).returncode != 0
    lab.exec(H, f"mkdir -p {state.KUB_DIR} && systemd-run --collect --unit=kub-test-hold "
                f"flock {state.LOCK_FILE} sleep 120")
    try:
        with Host(settings(lab), logging.getLogger()) as host:
            assert locked(host, lock_wait=3, timeout=60).exit_code == LOCK_BUSY
            with pytest.raises(RemoteError) as err:
                locked(host, lock_wait=60, timeout=5)
            assert not isinstance(err.value, ConnectionLost)
            message = str(err.value)
            assert message.startswith(f"{lab.host_ip(H)}: the locked script did not finish within 5 s (it took ")
            assert f"of the {len(payload)} bytes of its input)" in message and "\n" not in message
            # the connection still works, and with the lock free the whole input arrives
            lab.exec(H, "systemctl stop kub-test-hold")
            result = locked(host, lock_wait=10, timeout=60)
            assert result.ok and result.stdout == f"got {len(big)}\n"
    finally:
        lab.exec(H, "systemctl stop kub-test-hold 2>/dev/null; true")
        if made_dir:
            lab.exec(H, f"rm -rf {state.KUB_DIR}")
