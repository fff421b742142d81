"""The lab itself: hosts, logins, apt, the lab service, faults, wipe, bad input and clean teardown."""
import http.client
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lab_indexes import SECOND_LAB_INDEX

from kub_lab import system
from kub_lab.lab import Lab
from kub_lab.service import LabServer
from kub_lab.system import LabError

pytestmark = pytest.mark.lab

# an index nobody else uses: "not up" checks and the second-lab test (KUB_LAB_SECOND_INDEX beside other labs)
SECOND_INDEX = SECOND_LAB_INDEX


def ssh(lab, i, command, user="root", known_hosts=None, connect_timeout=5, timeout=30, input=None,
        extra=()):
    argv = ["ssh", "-i", lab.ssh_private_key_path, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts or lab.known_hosts_path}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "LogLevel=ERROR", *extra, f"{user}@{lab.host_ip(i)}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)


def cli(*args, env=None, not_root=False):
    argv = [sys.executable, "-m", "kub_lab.cli", *args]
    if not_root:
        # a user namespace without a uid map: the CLI sees uid 65534, yet still reads the checkout, which may
        # sit in a folder only root can enter
        argv = ["unshare", "--user"] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


def assert_refused(result, mentions=""):
    """Bad input: exit 2, exactly one line on stderr saying what is wrong."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result
    assert len(lines) == 1 and lines[0].startswith("kub-lab: "), result.stderr
    assert mentions in lines[0]


# ---- hosts -------------------------------------------------------------------------------------

def test_hosts_are_separate_machines(lab):
    hosts = lab.hosts()
    assert hosts == [1, 2, 3, 4, 5]
    token = secrets.token_hex(8)
    lab.exec(1, f"echo {token} > /root/only-here")
    assert lab.exec(1, "cat /root/only-here").stdout.strip() == token
    for i in hosts[1:]:
        assert lab.exec(i, "cat /root/only-here", check=False).stdout.strip() != token
    names = [lab.exec(i, "hostname").stdout.strip() for i in hosts]
    assert names == [f"kubh{i}" for i in hosts]
    machine_ids = {lab.exec(i, "cat /etc/machine-id").stdout.strip() for i in hosts}
    assert len(machine_ids) == len(hosts)
    for i in hosts:
        assert lab.exec(i, "cat /proc/1/comm").stdout.strip() == "systemd"
        assert f"inet {lab.host_ip(i)}/24" in lab.exec(i, "ip -4 addr show eth0").stdout
    # containerd's directory must not be on overlayfs (nested overlay snapshots), the root must
    assert lab.exec(1, "stat -f -c %T /").stdout.strip() == "overlayfs"
    assert lab.exec(1, "stat -f -c %T /var/lib/containerd").stdout.strip() != "overlayfs"


def test_exec_returns_output_and_status(lab):
    result = lab.exec(2, ["sh", "-c", "cat; echo err >&2; exit 3"], check=False, input="in\n")
    assert (result.returncode, result.stdout, result.stderr) == (3, "in\n", "err\n")
    with pytest.raises(subprocess.CalledProcessError):
        lab.exec(2, "false")
    with pytest.raises(subprocess.TimeoutExpired):
        lab.exec(2, "sleep 30", timeout=1)


# ---- logins ------------------------------------------------------------------------------------

def test_root_logs_in_by_key_with_host_key_checking(lab, tmp_path):
    known_hosts = lab.write_known_hosts(tmp_path / "known_hosts")
    for i in lab.hosts():
        result = ssh(lab, i, "id -u; hostname", known_hosts=known_hosts)
        assert result.stdout.split() == ["0", f"kubh{i}"], result.stderr
    # host 2's key listed for host 1: ssh must refuse, so checking is on and the keys differ
    wrong = tmp_path / "wrong_known_hosts"
    line = next(x for x in lab.known_hosts().splitlines() if x.startswith(lab.host_ip(2) + " "))
    wrong.write_text(line.replace(lab.host_ip(2), lab.host_ip(1), 1) + "\n")
    result = ssh(lab, 1, "true", known_hosts=wrong)
    assert result.returncode == 255
    assert "host key" in result.stderr.lower()


def test_password_logins_are_off(lab):
    result = ssh(lab, 1, "true", extra=("-o", "PreferredAuthentications=password,keyboard-interactive"))
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


def test_user_kub_has_passwordless_sudo(lab):
    result = ssh(lab, 2, "id -un; sudo -n id -u", user="kub")
    assert result.stdout.split() == ["kub", "0"], result.stderr


def test_user_kubpw_needs_the_sudo_password(lab):
    result = ssh(lab, 3, "id -un; sudo -n true", user="kubpw")
    assert result.stdout.split() == ["kubpw"]
    assert result.returncode != 0
    result = ssh(lab, 3, "sudo -S -p '' id -u", user="kubpw", input=lab.sudo_password + "\n")
    assert result.stdout.strip() == "0", result.stderr
    result = ssh(lab, 3, "sudo -S -p '' id -u", user="kubpw", input="not-the-password\n")
    assert result.returncode != 0 and result.stdout.strip() == ""


# ---- network boundaries, apt and the lab service ------------------------------------------------

def test_hosts_reach_each_other_but_nothing_outside_the_lab(lab):
    banner = lab.exec(1, f"timeout 5 bash -c 'exec 3<>/dev/tcp/{lab.host_ip(2)}/22; head -c 4 <&3'")
    assert banner.stdout == "SSH-"
    started = time.monotonic()
    result = lab.exec(1, f"curl -sS -m 5 http://{lab.bridge_ip}:22/", check=False)
    assert result.returncode == 7 and time.monotonic() - started < 3   # rejected at once, not a hang
    assert lab.exec(1, "getent hosts deb.debian.org", check=False).returncode != 0
    assert lab.exec(1, "curl -sS --noproxy '*' --connect-timeout 2 http://1.1.1.1/", check=False).returncode != 0


def test_apt_works_through_the_lab_proxy(lab):
    assert f'"{lab.service_url}"' in lab.exec(5, "apt-config dump Acquire::http::Proxy").stdout
    result = lab.exec(5, "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q tree",
                      check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert lab.exec(5, "tree --version").stdout.startswith("tree v")


def test_lab_service_answers_hosts_and_this_machine(lab):
    def status_code(curl_args, host=1):
        return lab.exec(host, f"curl -s -o /dev/null -w '%{{http_code}}' {curl_args}").stdout

    assert status_code(f"{lab.service_url}/no/such/file") == "404"
    assert status_code(f"{lab.service_url}/core:/stable:/v0.0/deb/nothing") == "404"
    assert status_code(f"-x {lab.service_url} http://example.com/") == "403"

    repository = Path(lab.status()["service"]["repository"])
    key_url = lab.package_repository_key_url.format(version="1.31")
    key_file = repository / "core:/stable:/v1.31/deb/Release.key"
    plain = lab.exec(1, f"curl -s -w '\\n%{{http_code}}' {key_url}").stdout
    proxied = lab.exec(1, f"curl -s -w '\\n%{{http_code}}' -x {lab.service_url} {key_url}").stdout
    if key_file.exists():
        assert plain == proxied == key_file.read_text() + "\n200"
    else:
        # TODO: kub_lab.repo does not build the repository yet; the lab serves an empty one meanwhile
        assert plain.endswith("404") and proxied.endswith("404")

    connection = http.client.HTTPConnection(lab.bridge_ip, 3142, timeout=5)   # from the root namespace
    connection.request("GET", "/no/such/file")
    assert connection.getresponse().status == 404


def test_service_serves_the_repository_directory(tmp_path):
    """The service on its own (loopback, no hosts): repository paths, quoting, and what it refuses."""
    deb_dir = tmp_path / "repo" / "core:" / "stable:" / "v1.31" / "deb"
    deb_dir.mkdir(parents=True)
    (deb_dir / "Release.key").write_text("KEY\n")
    (tmp_path / "secret").write_text("no")
    server = LabServer("127.0.0.1", 0, tmp_path / "cache", tmp_path / "repo")
    server.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.port}"

    def get(path, method="GET", headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()

    try:
        assert get("/core:/stable:/v1.31/deb/Release.key") == (200, b"KEY\n")
        assert get("/core%3A/stable%3A/v1.31/deb/Release.key") == (200, b"KEY\n")
        assert get(base + "/core%3a/stable%3a/v1.31/deb/Release.key") == (200, b"KEY\n")
        assert get("/core:/stable:/v1.31/deb/Release.key", method="HEAD") == (200, b"")
        assert get("/core:/stable:/v1.31/deb/Release.key",
                   headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})[0] == 304
        assert get("/core:/stable:/../../secret")[0] == 404
        assert get("/core:/stable:/v1.31/deb/")[0] == 404
        assert get("/elsewhere")[0] == 404
        assert get("http://example.com/debian/")[0] == 403
        assert get("http://127.0.0.2:1/core:/stable:/v1.31/deb/Release.key")[0] == 403
        assert get("example.com:443", method="CONNECT")[0] == 403
    finally:
        server.shutdown()
        server.server_close()


# ---- faults ------------------------------------------------------------------------------------

def test_cut_times_out_and_heal_restores(lab):
    try:
        lab.cut(4)
        result = ssh(lab, 4, "true", connect_timeout=2)
        assert result.returncode == 255 and "timed out" in result.stderr
    finally:
        lab.heal(4)
    assert ssh(lab, 4, "true").returncode == 0


def test_full_packet_loss_times_out_and_unloss_restores(lab):
    try:
        lab.loss(4, 100)
        result = ssh(lab, 4, "true", connect_timeout=2)
        assert result.returncode == 255 and "timed out" in result.stderr
    finally:
        lab.unloss(4)
    assert ssh(lab, 4, "true").returncode == 0


def test_slow_link_makes_transfers_slower(lab):
    def transfer_seconds():
        started = time.monotonic()
        result = ssh(lab, 4, "head -c 262144 /dev/zero", timeout=60)
        assert len(result.stdout) == 262144
        return time.monotonic() - started

    normal = transfer_seconds()
    try:
        lab.slow(4, "1mbit")   # 256 KiB at 1 Mbit/s: about 2 s
        slowed = transfer_seconds()
    finally:
        lab.unslow(4)
    assert slowed > 1.5 and slowed > 3 * normal
    assert transfer_seconds() < slowed / 2


def test_killed_sshd_refuses_until_started(lab):
    session = subprocess.Popen(["ssh", "-i", lab.ssh_private_key_path, "-o", "BatchMode=yes",
                                "-o", f"UserKnownHostsFile={lab.known_hosts_path}",
                                f"root@{lab.host_ip(4)}", "echo in; sleep 60"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert session.stdout.readline() == "in\n"
        lab.kill_sshd(4)
        session.wait(timeout=10)   # the open session dies with sshd
        assert session.returncode != 0
        result = ssh(lab, 4, "true")
        assert result.returncode == 255 and "Connection refused" in result.stderr
    finally:
        session.kill()
        lab.start_sshd(4)
    assert ssh(lab, 4, "true").returncode == 0


def test_crash_keeps_the_disk_and_boot_brings_the_host_back(lab):
    assert ssh(lab, 3, "echo before-crash > /root/kept").returncode == 0
    vip = lab.host_ip(3).rsplit(".", 1)[0] + ".203"   # an extra address, as a keepalived holding a virtual IP
    lab.exec(3, f"ip addr add {vip}/24 dev eth0")
    assert lab.exec(1, f"ping -c1 -W2 {vip}", check=False).returncode == 0
    old_init = lab.status()["hosts"][3]["pid"]
    try:
        lab.crash(3)
        # silent as a dead machine: no answer at all, neither for its own address nor for the extra one
        result = ssh(lab, 3, "true", connect_timeout=2)
        assert result.returncode == 255 and "timed out" in result.stderr, result.stderr
        for address in (lab.host_ip(3), vip):
            assert lab.exec(1, f"ping -c1 -W2 {address}", check=False).returncode == 1
        assert 3 not in lab.hosts()
        assert not system.process_alive(old_init)
        with pytest.raises(LabError):
            lab.exec(3, "true")
        assert_refused(cli("--index", str(lab.index), "cut", "3"), "not running")
        assert_refused(cli("--index", str(lab.index), "exec", "3", "--", "true"), "not running")
    finally:
        if 3 not in lab.hosts():
            lab.boot(3)
    assert ssh(lab, 3, "cat /root/kept").stdout == "before-crash\n"
    assert lab.exec(3, f"ip -4 -o addr show dev eth0 | grep -c {vip}", check=False).stdout.strip() == "0"
    assert lab.hosts() == [1, 2, 3, 4, 5]


def test_wipe_gives_a_fresh_disk_with_the_same_identity(lab, pristine_hosts):
    lab.exec(2, "echo old > /root/gone; echo old > /var/lib/containerd/gone")
    machine_id = lab.exec(2, "cat /etc/machine-id").stdout
    pristine_hosts(2)
    assert lab.exec(2, "ls /root/gone /var/lib/containerd/gone", check=False).returncode != 0
    assert lab.exec(2, "cat /etc/machine-id").stdout == machine_id
    # same host key: strict checking against the lab's known_hosts still passes
    assert ssh(lab, 2, "hostname").stdout == "kubh2\n"


# ---- bad input ---------------------------------------------------------------------------------

def test_bad_input_is_refused_with_one_line(lab):
    Lab(SECOND_INDEX).down()   # leftovers of an interrupted earlier run
    index = str(lab.index)
    assert_refused(cli("--index", index, "up", "0"), "1..64")
    assert_refused(cli("--index", index, "up", "300"), "1..64")
    assert_refused(cli("--index", index, "up", "2"), "already up")
    assert_refused(cli("--index", index, "cut", "9"), "no host 9")
    assert_refused(cli("--index", index, "loss", "1", "150"), "0..100")
    assert_refused(cli("--index", index, "slow", "1", "fast"), "200kbit")
    assert_refused(cli("--index", index, "exec", "1"), "command")
    assert_refused(cli("--index", "300", "status"), "0..255")
    other = str(SECOND_INDEX)
    assert_refused(cli("--index", other, "exec", "1", "--", "true"), "not up")
    assert_refused(cli("--index", other, "crash", "1"), "not up")
    assert_refused(cli("--index", other, "up", "2", not_root=True), "root")
    fake_bin = Path(os.environ.get("TMPDIR", "/tmp")) / f"kub-lab-no-nft-{os.getpid()}"
    fake_bin.mkdir(exist_ok=True)
    try:
        for tool in system.REQUIRED_TOOLS:
            if tool != "nft":
                (fake_bin / tool).unlink(missing_ok=True)
                (fake_bin / tool).symlink_to(shutil.which(tool))
        assert_refused(cli("--index", other, "up", "2", env={"PATH": str(fake_bin)}), "nft")
    finally:
        shutil.rmtree(fake_bin)
    # nothing was made by the refused commands, and the running lab is untouched
    assert not Lab(SECOND_INDEX).is_up() and not system.link_exists(f"kublab{SECOND_INDEX}")
    assert lab.hosts() == [1, 2, 3, 4, 5]


# ---- a second lab at the same time, and a clean teardown ----------------------------------------

def test_second_lab_runs_beside_and_leaves_nothing_behind(lab):
    other = Lab(SECOND_INDEX)
    other.down()
    inotify_before = system.sysctl_get("fs.inotify.max_user_instances")
    other.up(2)
    try:
        assert other.hosts() == [1, 2]
        assert other.exec(2, "hostname").stdout == "kubh2\n"
        # labs are separate networks
        reach = other.exec(1, f"curl -sS --connect-timeout 2 http://{lab.host_ip(1)}:22/", check=False)
        assert reach.returncode in (7, 28)
        pids = [other.status()["service"]["pid"]] + [h["pid"] for h in other.status()["hosts"].values()]
        assert all(pids)
    finally:
        other.down()

    name = re.compile(rf"kub{SECOND_INDEX}[hv]\d+|kublab{SECOND_INDEX}(\D.*)?")
    assert not [n for n in system.netns_list() if name.fullmatch(n)]
    assert not [n for n in os.listdir("/sys/class/net") if name.fullmatch(n)]
    assert not [t for t in system.nft_tables() if name.fullmatch(t[1])]
    assert not [c for c in system.CGROUP_CONTROLLERS
                if (system.CGROUP_ROOT / c / f"kublab{SECOND_INDEX}").exists()]
    state_dir = str(other.state_dir)
    assert state_dir not in Path("/proc/self/mountinfo").read_text()
    assert not [p for p in pids if system.process_alive(p)]
    assert not [p for p in os.listdir("/proc") if p.isdigit() and system.process_alive(int(p))
                and f"/kublab{SECOND_INDEX}/" in system.process_cgroup(int(p))]
    assert system.sysctl_get("fs.inotify.max_user_instances") == inotify_before
    assert (other.state_dir / "hosts" / "h1" / "disk" / "upper").is_dir()   # disks are kept
    assert lab.hosts() == [1, 2, 3, 4, 5]   # the first lab did not notice
