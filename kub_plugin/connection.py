"""SSH to one host with Fabric: host keys verified, sudo handled, secrets kept off command lines.

Every failure becomes a one-line RemoteError that names the host, the problem and the fix.
"""
import base64
import hashlib
import io
import logging
import os
import select
import shlex
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources

import paramiko
from fabric import Config, Connection

# A peer that stops acknowledging for this long is dead: commands fail instead of hanging on a cut link.
DEAD_PEER_SECONDS = 30
KEEPALIVE_SECONDS = 5
DEFAULT_COMMAND_TIMEOUT = 900
SEND_SLICE = 256 * 1024
SEND_POLL_SECONDS = 0.05   # how often a command that takes none of its input is looked at again
CHANNEL_TIMEOUT_SECONDS = 30   # the longest any one send or receive on a channel may block
OUTPUT_AFTER_EXIT_SECONDS = 5   # how long output may still arrive after a command's exit status
LOCK_BUSY = 75   # exit code of a locked run_script whose lock another holder kept
MAX_PARALLEL_HOSTS = 16

# paramiko tells of every connect and login at INFO, and its transport thread logs a failed handshake at ERROR
# with its traceback: kub reports every SSH failure itself, in one line
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class RemoteError(Exception):
    """A host could not be reached or a command on it failed."""


class ConnectionLost(RemoteError):
    """The connection broke in the middle of a step: running the step again may well succeed."""


class Unreachable(RemoteError):
    """No SSH session could be opened to the host (no answer, refused, no handshake): nothing ran there."""

    def __init__(self, ip, reason, fix):
        super().__init__(f"{ip}: {reason}: {fix}")
        self.ip, self.reason = ip, reason


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self):
        return self.exit_code == 0


def fingerprint(key):
    """OpenSSH-style SHA256 fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _VerifyPolicy(paramiko.MissingHostKeyPolicy):
    """Called for keys not in known_hosts: accept only a pinned fingerprint, else explain how to trust."""

    def __init__(self, settings):
        self.settings = settings

    def missing_host_key(self, client, hostname, key):
        seen = fingerprint(key)
        pinned = self.settings.host_key_fingerprint
        if pinned:
            if seen == pinned:
                return
            raise RemoteError(
                f"{self.settings.ip}: host key {seen} ({key.get_name()}) does not match the pinned "
                f"ssh.host_key_fingerprint {pinned}: if the host was reinstalled, pin the new key after checking it "
                f"on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); otherwise someone may be in between")
        raise RemoteError(
            f"{self.settings.ip}: unknown host key {seen} ({key.get_name()}), not in "
            f"{self.settings.known_hosts_path}: check it on the host (ssh-keygen -lf "
            f"/etc/ssh/ssh_host_ed25519_key.pub), then add it (ssh-keyscan -p {self.settings.port} "
            f"{self.settings.ip} >> {self.settings.known_hosts_path}) or set ssh.host_key_fingerprint: {seen}")


class _WarnPolicy(paramiko.MissingHostKeyPolicy):
    def __init__(self, logger, ip):
        self.logger, self.ip = logger, ip

    def missing_host_key(self, client, hostname, key):
        self.logger.warning(f"[{self.ip}] host key NOT verified (ssh.verify_host_key is false): "
                            f"accepting {fingerprint(key)}")


def script_text(name):
    return resources.files("kub_plugin.scripts").joinpath(name).read_text()


class Host:
    """One SSH connection to one host. Use as a context manager."""

    def __init__(self, settings, logger):
        self.settings = settings
        self.logger = logger
        self.ip = settings.ip
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
            connect_kwargs["pkey"] = _load_key(s)
        if s.password:
            connect_kwargs["password"] = s.password
        if not (s.private_key or s.private_key_path or s.password):
            _check_agent(s)
            connect_kwargs["allow_agent"] = True
        conn = Connection(s.ip, user=s.user, port=s.port, config=Config(overrides={"load_ssh_configs": False}),
                          connect_kwargs=connect_kwargs)
        self._trust_host_keys(conn.client)
        connect_kwargs["sock"] = self._socket()
        try:
            conn.open()
        except BaseException as err:
            conn.close()
            connect_kwargs["sock"].close()
            raise self._login_error(err) from None
        conn.transport.set_keepalive(KEEPALIVE_SECONDS)
        self._conn = conn

    def _login_error(self, err):
        """The one-line error for a failed handshake or login (our own RemoteErrors pass as they are)."""
        s = self.settings
        if isinstance(err, paramiko.BadHostKeyException):
            return RemoteError(
                f"{self.ip}: host key CHANGED: it is now {fingerprint(err.key)}, {s.known_hosts_path} has "
                f"{fingerprint(err.expected_key)}: if the host was reinstalled, check the new key on the host, remove "
                f"the old line (ssh-keygen -R {self.ip} -f {s.known_hosts_path}) and add the new one; otherwise "
                f"someone may be in between")
        if isinstance(err, paramiko.AuthenticationException):
            credential = ("key or password" if s.private_key or s.private_key_path or s.password
                          else "keys in the ssh-agent (SSH_AUTH_SOCK)")
            return RemoteError(
                f"{self.ip}: SSH login as {s.user!r} was refused: check ssh.user and the {credential} "
                f"(the public key must be in ~{s.user}/.ssh/authorized_keys on the host)")
        if isinstance(err, (paramiko.SSHException, EOFError, OSError)):
            return Unreachable(self.ip, f"SSH handshake on port {s.port} failed ({_short(err)})",
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
            reason = f"no answer within {s.connect_timeout} s" if isinstance(err, socket.timeout) else _short(err)
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
            client.set_missing_host_key_policy(_WarnPolicy(self.logger, self.ip))
            return
        if not s.host_key_fingerprint:
            for hostnames, key in _known_host_keys(s):
                for name in hostnames:
                    client.get_host_keys().add(name, key.get_name(), key)
        client.set_missing_host_key_policy(_VerifyPolicy(s))

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- running ----------------------------------------------------------------------------------

    def run(self, command, stdin="", sudo=False, timeout=DEFAULT_COMMAND_TIMEOUT):
        """Runs a shell command; `stdin` is sent to it (secrets go there, never on the command line)."""
        if sudo:
            prefix, password_line = self._sudo()
            command = f"{prefix} -- sh -c {shlex.quote(command)}" if prefix else command
            stdin = password_line + stdin
        return self._exec(command, stdin, timeout, "a step")

    def run_script(self, name, env=None, secret_env=None, timeout=DEFAULT_COMMAND_TIMEOUT, lock=None):
        """Runs scripts/<name> (after scripts/lib.sh) as root with bash. Variables (secrets too) travel on stdin,
        not argv. With lock=(path, seconds), the script runs only while it holds that flock (its folder is made
        when missing, an existing one is left as it is); if another holder keeps it longer than the seconds, the
        result's exit code is LOCK_BUSY."""
        payload = script_payload(name, {**(env or {}), **(secret_env or {})})
        command = f"sh -c {shlex.quote(locked_bash(*lock))}" if lock else "bash -s"
        prefix, password_line = self._sudo()
        command = f"{prefix} -- {command}" if prefix else command
        return self._exec(command, password_line + payload, timeout, name)

    def upload(self, data, path, timeout=DEFAULT_COMMAND_TIMEOUT):
        """Writes bytes to a root-only file on the host (through a partial file renamed into place)."""
        target = shlex.quote(path)
        command = (f"install -d -m 0700 {shlex.quote(os.path.dirname(path))} && umask 077 && "
                   f"cat > {target}.part && mv -f {target}.part {target}")
        prefix, password_line = self._sudo()
        command = f"{prefix} -- sh -c {shlex.quote(command)}" if prefix else f"sh -c {shlex.quote(command)}"
        return self._exec(command, password_line.encode() + data, timeout, f"the upload of {path}")

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
            raise ConnectionLost(f"{self.ip}: the SSH connection was lost during {what} ({_short(err)}): "
                              f"check the network to the host, then run the workflow again") from None
        return Result(out.decode(errors="replace"), err.decode(errors="replace"), code)

    def _sudo(self):
        """(prefix, stdin line) to become root: nothing for root, `sudo -n`, or `sudo -S` fed the password."""
        if self._sudo_prefix is None:
            self._sudo_prefix = self._find_sudo()
        prefix = self._sudo_prefix
        return prefix, (self.settings.sudo_password + "\n" if prefix.startswith("sudo -S") else "")

    def _find_sudo(self):
        s = self.settings
        if s.user == "root":
            return ""
        if self._exec("sudo -n true", "", 60, "sudo").ok:
            return "sudo -n"
        if not s.sudo_password:
            raise RemoteError(f"{self.ip}: sudo for {s.user!r} needs a password: set ssh.sudo_password "
                              f"(or allow {s.user} passwordless sudo, or log in as root)")
        # -k: always ask, so the password line is consumed by sudo and never reaches the shell
        if not self._exec("sudo -S -k -p '' true", s.sudo_password + "\n", 60, "sudo").ok:
            raise RemoteError(f"{self.ip}: sudo rejected the password of {s.user!r}: set the right "
                              f"ssh.sudo_password (and check that {s.user} is a sudoer)")
        return "sudo -S -k -p ''"


def _check_agent(settings):
    """No key, key path or password: the keys of the ssh-agent at SSH_AUTH_SOCK (config.py made sure it is
    set) log in; it must hold one."""
    agent = paramiko.Agent()
    try:
        if not agent.get_keys():
            where = os.environ.get("SSH_AUTH_SOCK", "")
            raise RemoteError(f"{settings.ip}: the ssh-agent at SSH_AUTH_SOCK {where} holds no key (or cannot be "
                              f"reached): ssh-add the key, or set ssh.private_key_path")
    finally:
        agent.close()


def _load_key(settings):
    """The private key (text, or the file at private_key_path), opened with ssh.private_key_passphrase when
    it has one, as paramiko needs it."""
    where = "ssh.private_key"
    text = settings.private_key
    if not text:
        where = f"ssh.private_key_path {settings.private_key_path}"
        path = os.path.expanduser(settings.private_key_path)
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            raise RemoteError(f"{settings.ip}: {where} does not exist: give the path of the private key on the "
                              f"machine running cfy") from None
        except (OSError, UnicodeDecodeError) as err:
            raise RemoteError(f"{settings.ip}: {where} cannot be read ({_short(err)}): give a readable OpenSSH "
                              f"or PEM private key") from None
    if not text.strip():
        raise RemoteError(f"{settings.ip}: {where} is empty: give the whole private key")
    encrypted = _encrypted(text)
    passphrase = settings.private_key_passphrase or None
    if encrypted and not passphrase:
        raise RemoteError(f"{settings.ip}: {where} is protected by a passphrase: set ssh.private_key_passphrase "
                          f"(on a manager from a secret), or load the key into an ssh-agent (ssh-add) and give "
                          f"no key")
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text), password=passphrase)
        except (paramiko.SSHException, ValueError, TypeError):
            continue
    if encrypted:
        raise RemoteError(f"{settings.ip}: ssh.private_key_passphrase does not open {where}: give that key's "
                          f"passphrase (ssh-keygen -y -f KEY asks for it and tells)")
    raise RemoteError(f"{settings.ip}: {where} is not an OpenSSH/PEM private key (ed25519, ecdsa or rsa): "
                      f"give the whole private key file")


def _encrypted(text):
    if "ENCRYPTED" in text:   # PEM: "Proc-Type: 4,ENCRYPTED" or "BEGIN ENCRYPTED PRIVATE KEY"
        return True
    body = "".join(line for line in text.strip().splitlines()[1:-1])
    try:
        blob = base64.b64decode(body)
    except ValueError:
        return False
    # openssh-key-v1: magic, then the cipher name ("none" when unencrypted)
    magic = b"openssh-key-v1\0"
    if not blob.startswith(magic) or len(blob) < len(magic) + 4:
        return False
    size = int.from_bytes(blob[len(magic):len(magic) + 4], "big")
    return blob[len(magic) + 4:len(magic) + 4 + size] != b"none"


def _known_host_keys(settings):
    """(hostnames, key) of every entry in known_hosts_path; a line kub cannot use is refused, not skipped."""
    path = os.path.expanduser(settings.known_hosts_path)
    where = f"ssh.known_hosts_path {settings.known_hosts_path}"
    if not os.path.isfile(path):
        raise RemoteError(f"{settings.ip}: known_hosts file {settings.known_hosts_path} does not exist: create it "
                          f"with the host's key (ssh-keyscan {settings.ip} >> {settings.known_hosts_path}, after "
                          f"checking the key) or set ssh.host_key_fingerprint")
    entries = []
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                problem = f"is an {line.split()[0]} line, which kub does not support"
            else:
                try:
                    entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
                except (paramiko.SSHException, ValueError, TypeError, IndexError) as err:
                    entry, problem = None, f"holds a key kub cannot read ({_short(err)})"
                else:
                    problem = "is not a known_hosts entry (hosts, key type, key)"
                if entry is not None and entry.key is not None:
                    entries.append((entry.hostnames, entry.key))
                    continue
            raise RemoteError(f"{settings.ip}: {where} line {number} {problem}: remove or fix that line (or give "
                              f"kub a known_hosts file of its own), or set ssh.host_key_fingerprint")
    return entries


def _unread(sent, size):
    """What the deadline's message adds when the command had not taken all of its input."""
    if sent < size:
        return f" (it took {sent} of the {size} bytes of its input)"
    return ""


def _short(err):
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:160]


def script_payload(name, env):
    """What `bash -s` reads for scripts/<name>: the variables as exports, then scripts/lib.sh, then the script."""
    lines = [f"export {k}={shlex.quote(str(v))}" for k, v in env.items()]
    return "\n".join(lines + [script_text("lib.sh"), script_text(name)]) + "\n"


def locked_bash(path, seconds):
    """A shell line running `bash -s` only while it holds the flock `path` (its folder made when missing); exit
    code LOCK_BUSY when another holder keeps it longer than the seconds."""
    return (f"mkdir -p -m 0700 {shlex.quote(os.path.dirname(path))} && "
            f"exec flock -w {int(seconds)} -E {LOCK_BUSY} {shlex.quote(path)} bash -s")


def on_hosts(settings_list, logger, work, unreachable=None):
    """Runs work(host) on every host in parallel, each over its own connection: {ip: result}. With `unreachable`,
    a host no session could be opened to gives unreachable(err) (an Unreachable) as its result instead.

    Every failure is reported: one alone as it is, several in one error that names each host. Only when all
    of them are lost connections is the whole a ConnectionLost (worth a retry)."""
    def one(settings):
        host = Host(settings, logger)
        try:
            host.open()
        except Unreachable as err:
            if unreachable is None:
                raise
            return unreachable(err)
        with host:
            return work(host)

    if not settings_list:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_HOSTS, len(settings_list))) as pool:
        futures = [(s.ip, pool.submit(one, s)) for s in settings_list]
    results, errors = {}, []
    for ip, future in futures:
        try:
            results[ip] = future.result()
        except RemoteError as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        message = f"{len(errors)} of {len(settings_list)} hosts failed: " + " | ".join(map(str, errors))
        raise (ConnectionLost if all(isinstance(e, ConnectionLost) for e in errors) else RemoteError)(message)
    return results
