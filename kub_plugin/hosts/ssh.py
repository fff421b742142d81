"""SSH to one host with Fabric: host keys verified, sudo handled, secrets kept off command lines.

Every failure becomes a one-line RemoteError that names the host, the problem and the fix.
"""
import logging
import os
import select
import socket
import time
from dataclasses import dataclass

import paramiko
from fabric import Config, Connection

from ..errors import ConnectionLost, RemoteError, Unreachable, short
from .commands import Command, Quoted, Raw, command_line
from .keys import VerifyPolicy, WarnPolicy, check_agent, fingerprint, known_host_keys, load_key
from .payload import locked_bash, script_payload
from .scripts import DRY_RUN

# A peer that stops acknowledging for this long is dead: commands fail instead of hanging on a cut link.
DEAD_PEER_SECONDS = 30
KEEPALIVE_SECONDS = 5
DEFAULT_COMMAND_TIMEOUT = 900
SEND_SLICE = 256 * 1024
SEND_POLL_SECONDS = 0.05   # how often a command that takes none of its input is looked at again
CHANNEL_TIMEOUT_SECONDS = 30   # the longest any one send or receive on a channel may block
OUTPUT_AFTER_EXIT_SECONDS = 5   # how long output may still arrive after a command's exit status
SUDO = Command("sudo", "-n")
# -k: always ask, so the password line is consumed by sudo and never reaches the shell
SUDO_WITH_PASSWORD = Command("sudo", "-S", "-k", "-p", "")

# paramiko tells of every connect and login at INFO, and its transport thread logs a failed handshake at ERROR
# with its traceback: kub reports every SSH failure itself, in one line
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self):
        return self.exit_code == 0


class Host:
    """One SSH connection to one host. Use as a context manager. With a `plan` (hosts.plan.Plan), the host is
    opened for a plan: its scripts run in plan mode, their changes go to the plan, and nothing is uploaded."""

    def __init__(self, settings, logger, plan=None):
        self.settings = settings
        self.logger = logger
        self.ip = settings.ip
        self.plan = plan
        self._conn = None
        self._sudo_prefix = None

    def __enter__(self):
        if self._conn is None:
            self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def log(self, message):
        self.logger.info(f"[{self.ip}] {message}")

    # -- connecting -------------------------------------------------------------------------------

    def open(self):
        s = self.settings
        connect_kwargs = {"allow_agent": False, "look_for_keys": False, "banner_timeout": s.connect_timeout,
                          "auth_timeout": s.connect_timeout}
        if s.private_key or s.private_key_path:
            connect_kwargs["pkey"] = load_key(s)
        if s.password:
            connect_kwargs["password"] = s.password
        if not (s.private_key or s.private_key_path or s.password):
            check_agent(s)
            connect_kwargs["allow_agent"] = True
        conn = Connection(s.ip, user=s.user, port=s.port, config=Config(overrides={"load_ssh_configs": False}),
                          connect_kwargs=connect_kwargs)
        self._trust_host_keys(conn.client)
        connect_kwargs["sock"] = self._socket()
        try:
            conn.open()
        except BaseException as err:
            # whether the host still speaks: a login it refused leaves the connection up, a dead host's is gone
            answered = conn.client.get_transport() is not None and conn.client.get_transport().is_active()
            conn.close()
            connect_kwargs["sock"].close()
            raise self._login_error(err, answered) from None
        conn.transport.set_keepalive(KEEPALIVE_SECONDS)
        self._conn = conn

    def _login_error(self, err, answered=True):
        """The one-line error for a failed handshake or login (our own RemoteErrors pass as they are). A login
        that got no answer (the host went silent, its connection closed or reset) is a host that is down, not a
        refused login."""
        s = self.settings
        if isinstance(err, paramiko.BadHostKeyException):
            return RemoteError(
                f"{self.ip}: host key CHANGED: it is now {fingerprint(err.key)}, {s.known_hosts_path} has "
                f"{fingerprint(err.expected_key)}: if the host was reinstalled, check the new key on the host, remove "
                f"the old line (ssh-keygen -R {self.ip} -f {s.known_hosts_path}) and add the new one; otherwise "
                f"someone may be in between")
        if isinstance(err, paramiko.AuthenticationException) and (not answered or "timeout" in str(err).lower()):
            return Unreachable(self.ip, f"the SSH login on port {s.port} got no answer ({short(err)})",
                               "the host may be down or hung: check that it is up and that sshd answers there")
        if isinstance(err, paramiko.AuthenticationException):
            credential = ("key or password" if s.private_key or s.private_key_path or s.password
                          else "keys in the ssh-agent (SSH_AUTH_SOCK)")
            return RemoteError(
                f"{self.ip}: SSH login as {s.user!r} was refused: check ssh.user and the {credential} "
                f"(the public key must be in ~{s.user}/.ssh/authorized_keys on the host)")
        if isinstance(err, (paramiko.SSHException, EOFError, OSError)):
            return Unreachable(self.ip, f"SSH handshake on port {s.port} failed ({short(err)})",
                               "check that sshd answers there")
        return err

    def _socket(self):
        s = self.settings
        try:
            sock = socket.create_connection((s.ip, s.port), timeout=s.connect_timeout)
        except ConnectionRefusedError:
            raise Unreachable(self.ip, f"connection refused on SSH port {s.port}",
                              "start sshd on the host or set ssh.port") from None
        except OSError as err:
            reason = f"no answer within {s.connect_timeout} s" if isinstance(err, socket.timeout) else short(err)
            raise Unreachable(self.ip, f"cannot reach SSH port {s.port} ({reason})",
                              f"check the IP, that the host is up and that a firewall lets port {s.port} "
                              f"through") from None
        # Linux: give up on a peer that acknowledges nothing for DEAD_PEER_SECONDS (keepalives keep data in
        # flight), so a cut link fails the step instead of hanging it for the TCP default of ~15 min.
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_PEER_SECONDS * 1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return sock

    def _trust_host_keys(self, client):
        s = self.settings
        client.get_host_keys().clear()
        if not s.verify_host_key:
            client.set_missing_host_key_policy(WarnPolicy(self.logger, self.ip))
            return
        if not s.host_key_fingerprint:
            for hostnames, key in known_host_keys(s):
                for name in hostnames:
                    client.get_host_keys().add(name, key.get_name(), key)
        client.set_missing_host_key_policy(VerifyPolicy(s))

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- running ----------------------------------------------------------------------------------

    def run(self, command, stdin="", sudo=False, timeout=DEFAULT_COMMAND_TIMEOUT):
        """Runs a command line (a commands.Command; text is taken as a fixed line with no values in it). `stdin` is
        sent to it (secrets go there, never on the command line). Errors quote it masked."""
        command = command_line(command)
        sent = command
        if sudo:
            prefix, password_line = self._sudo()
            sent = self._as_root(prefix, command) if prefix else command
            stdin = password_line + stdin
        return self._exec(sent.text, stdin, timeout, f"`{command.masked}`")

    def run_script(self, name, env=None, secret_env=None, timeout=DEFAULT_COMMAND_TIMEOUT, lock=None):
        """Runs scripts/<name> (after scripts/lib.sh) as root with bash. Variables (secrets too) travel on stdin,
        not argv. With lock=(path, seconds), the script runs only while it holds that flock (its folder is made
        when missing, an existing one is left as it is); if another holder keeps it longer than the seconds, the
        result's exit code is LOCK_BUSY. On a host opened for a plan, the script runs in plan mode."""
        env = {**(env or {}), **({DRY_RUN: "yes"} if self.plan is not None else {})}
        payload = script_payload(name, {**env, **(secret_env or {})})
        dry_run = env.get(DRY_RUN) == "yes"
        command = Command("sh", "-c", locked_bash(*lock, dry_run=dry_run)) if lock else Command("bash", "-s")
        prefix, password_line = self._sudo()
        command = Command(prefix, "--", command) if prefix else command
        return self._exec(command.text, password_line + payload, timeout, name)

    def upload(self, data, path, timeout=DEFAULT_COMMAND_TIMEOUT):
        """Writes bytes to a root-only file on the host (through a partial file renamed into place)."""
        if self.plan is not None:
            raise AssertionError(f"{self.ip}: an upload of {path} in a plan (the step must not upload in one)")
        part = f"{path}.part"
        command = Command("install", "-d", "-m", "0700", os.path.dirname(path), Raw("&& umask 077 && cat >"), part,
                          Raw("&& mv -f"), part, path)
        prefix, password_line = self._sudo()
        command = self._as_root(prefix, command) if prefix else Command("sh", "-c", Quoted(command))
        return self._exec(command.text, password_line.encode() + data, timeout, f"the upload of {path}")

    @staticmethod
    def _as_root(prefix, command):
        return Command(prefix, "--", "sh", "-c", Quoted(command))

    def _exec(self, command, stdin, timeout, what):
        """One command on its own channel, all of it within `timeout`: stdin sent as fast as the command takes it
        (it may take none until it holds a lock), then EOF; output read until it exits."""
        deadline = time.monotonic() + timeout
        data = memoryview(stdin if isinstance(stdin, bytes) else stdin.encode())
        sent = 0
        try:
            channel = self._conn.transport.open_session(timeout=self.settings.connect_timeout)
            # a safety net: sends wait for the peer's window here, never in a call that blocks
            channel.settimeout(CHANNEL_TIMEOUT_SECONDS)
            channel.exec_command(command)
            if not data:
                channel.shutdown_write()
            out, err = bytearray(), bytearray()
            exited = None
            while True:
                wait = 1.0
                if sent < len(data) and not channel.exit_status_ready():
                    wait = SEND_POLL_SECONDS   # paramiko has no writable-fd: a full window is polled
                    if channel.send_ready():
                        sent += channel.send(data[sent:sent + SEND_SLICE])
                        wait = 0
                        if sent == len(data):
                            channel.shutdown_write()
                select.select([channel], [], [], wait)
                while channel.recv_ready():
                    out += channel.recv(65536)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    # the exit status may come before the last of a long output, which ends with the channel's
                    # EOF (not waited for long: a process the command left running may hold its output open)
                    exited = exited or time.monotonic()
                    if channel.eof_received or time.monotonic() - exited > OUTPUT_AFTER_EXIT_SECONDS:
                        break
                if not self._conn.transport.is_active():
                    raise EOFError("connection closed")
                if time.monotonic() > deadline:
                    channel.close()
                    raise socket.timeout()
            code = channel.recv_exit_status()
            channel.close()
            if code == -1:   # the channel closed without an exit status: the connection went away
                raise EOFError("no exit status")
        except socket.timeout:
            raise RemoteError(f"{self.ip}: {what} did not finish within {timeout} s{_unread(sent, len(data))}: "
                              f"check the host (load, network, apt locks, another kub run holding its lock), "
                              f"then run the workflow again") from None
        except (paramiko.SSHException, EOFError, OSError) as err:
            raise ConnectionLost(f"{self.ip}: the SSH connection was lost during {what} ({short(err)}): "
                                 f"check the network to the host, then run the workflow again") from None
        return Result(out.decode(errors="replace"), err.decode(errors="replace"), code)

    def _sudo(self):
        """(prefix, stdin line) to become root: nothing (None) for root, `sudo -n`, or `sudo -S` fed the password."""
        if self._sudo_prefix is None:
            self._sudo_prefix = self._find_sudo()
        prefix = self._sudo_prefix if self._sudo_prefix.text else None
        return prefix, (self.settings.sudo_password + "\n" if prefix == SUDO_WITH_PASSWORD else "")

    def _find_sudo(self):
        """The prefix that makes a command root's (an empty Command for root)."""
        s = self.settings
        if s.user == "root":
            return Command()
        if self._exec(Command(SUDO, "true").text, "", 60, "sudo").ok:
            return SUDO
        if not s.sudo_password:
            raise RemoteError(f"{self.ip}: sudo for {s.user!r} needs a password: set ssh.sudo_password "
                              f"(or allow {s.user} passwordless sudo, or log in as root)")
        if not self._exec(Command(SUDO_WITH_PASSWORD, "true").text, s.sudo_password + "\n", 60, "sudo").ok:
            raise RemoteError(f"{self.ip}: sudo rejected the password of {s.user!r}: set the right "
                              f"ssh.sudo_password (and check that {s.user} is a sudoer)")
        return SUDO_WITH_PASSWORD


def _unread(sent, size):
    """What the deadline's message adds when the command had not taken all of its input."""
    if sent < size:
        return f" (it took {sent} of the {size} bytes of its input)"
    return ""
