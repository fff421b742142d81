"""SSH to one host with Fabric: host keys verified, sudo handled, secrets kept off command lines. A host with a
bastion (ssh.bastion) is reached through it (bastion.py; the logins themselves: login.py).

Every failure becomes a one-line RemoteError that names the host, the problem and the fix.
"""
import logging
import os
import select
import socket
import time
from dataclasses import dataclass

import paramiko

from ..errors import ConnectionLost, RemoteError, short
from . import bastion
from .commands import Command, Quoted, Raw, command_line
from .login import close, host_login, open_login
from .payload import script_run

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


class HostBase:
    """What the places kub's steps run on share: a context manager, opened once entered (unless open), closed on
    leaving; log lines that start with `ip`, how messages name the place."""

    def __enter__(self):
        if not self.is_open:
            self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def log(self, message):
        self.logger.info(f"[{self.ip}] {message}")


class Host(HostBase):
    """One SSH connection to one host. Use as a context manager. With a `plan` (hosts.plan.Plan), the host is
    opened for a plan: its scripts run in plan mode, their changes go to the plan, and nothing is uploaded."""

    def __init__(self, settings, logger, plan=None):
        self.settings = settings
        self.logger = logger
        self.ip = settings.ip
        self.plan = plan
        self._conn = None
        self._bastion = None   # the lease of its bastion's connection, for a host behind one
        self._sudo_prefix = None

    @property
    def is_open(self):
        return self._conn is not None

    # -- connecting -------------------------------------------------------------------------------

    def open(self):
        lease = bastion.acquire(self.settings, self.logger) if self.settings.bastion else None
        try:
            self._conn = open_login(host_login(self.settings), self.logger, lease and lease.gateway)
        except BaseException:
            if lease:
                bastion.release(lease)
            raise
        self._bastion = lease

    def close(self):
        if self._conn is not None:
            close(self._conn)
            self._conn = None
        if self._bastion is not None:
            bastion.release(self._bastion)
            self._bastion = None

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
        command, payload = script_run(name, env, secret_env, self.plan is not None, lock)
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
