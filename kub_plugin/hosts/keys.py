"""SSH keys: the private key kub logs in with (or the ssh-agent's), and the host keys it trusts (known_hosts or a
pinned fingerprint; an unknown key is refused, never added). Each takes a hosts.login.Login: a host's, or its
bastion's, named as such in every message."""
import base64
import hashlib
import io
import os

import paramiko

from ..errors import RemoteError, short


def fingerprint(key):
    """OpenSSH-style SHA256 fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class VerifyPolicy(paramiko.MissingHostKeyPolicy):
    """Called for keys not in known_hosts: accept only a pinned fingerprint, else explain how to trust.
    `login`: hosts.login.Login (who to name, which settings)."""

    def __init__(self, login):
        self.login = login

    def missing_host_key(self, client, hostname, key):
        login, seen = self.login, fingerprint(key)
        pinned = login.host_key_fingerprint
        if pinned:
            if seen == pinned:
                return
            raise RemoteError(
                f"{login.who}: host key {seen} ({key.get_name()}) does not match the pinned "
                f"{login.setting}host_key_fingerprint {pinned}: if the {login.kind} was reinstalled, pin the new key "
                f"after checking it on the {login.kind} (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); otherwise "
                f"someone may be in between")
        raise RemoteError(
            f"{login.who}: unknown host key {seen} ({key.get_name()}), not in {login.known_hosts_where}: check it on "
            f"the {login.kind} (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then {login.add_key_line()} or "
            f"set {login.setting}host_key_fingerprint: {seen}")


class WarnPolicy(paramiko.MissingHostKeyPolicy):
    def __init__(self, logger, login):
        self.logger, self.login = logger, login

    def missing_host_key(self, client, hostname, key):
        self.logger.warning(f"[{self.login.who}] host key NOT verified (ssh.verify_host_key is false): "
                            f"accepting {fingerprint(key)}")


def keyscan(login):
    """The command that reads the login's host key, run where its SSH port is reached: here, or on the bastion."""
    scan = f"ssh-keyscan -p {login.port} {login.address}"
    return f"ssh {login.through} {scan}" if login.through else scan


def known_hosts_name(login):
    """The name known_hosts lists the login's key under: the address, [address]:port on another port than 22."""
    return login.address if login.port == 22 else f"[{login.address}]:{login.port}"


def check_agent(login):
    """No key, key path or password: the keys of the ssh-agent at SSH_AUTH_SOCK (cluster/properties.py made sure it
    is set) log in; it must hold one."""
    agent = paramiko.Agent()
    try:
        if not agent.get_keys():
            where = os.environ.get("SSH_AUTH_SOCK", "")
            raise RemoteError(f"{login.who}: the ssh-agent at SSH_AUTH_SOCK {where} holds no key (or cannot be "
                              f"reached): ssh-add the key, or set {login.setting}private_key_path")
    finally:
        agent.close()


def load_key(login):
    """The private key (text, or the file at private_key_path), opened with its passphrase when it has one, as
    paramiko needs it."""
    who, setting = login.who, login.setting
    where = f"{setting}private_key"
    text = login.private_key
    if not text:
        where = f"{setting}private_key_path {login.private_key_path}"
        path = os.path.expanduser(login.private_key_path)
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            raise RemoteError(f"{who}: {where} does not exist: give the path of the private key on the "
                              f"machine running cfy") from None
        except (OSError, UnicodeDecodeError) as err:
            raise RemoteError(f"{who}: {where} cannot be read ({short(err)}): give a readable OpenSSH "
                              f"or PEM private key") from None
    if not text.strip():
        raise RemoteError(f"{who}: {where} is empty: give the whole private key")
    encrypted = _encrypted(text)
    passphrase = login.private_key_passphrase or None
    if encrypted and not passphrase:
        raise RemoteError(f"{who}: {where} is protected by a passphrase: set {setting}private_key_passphrase "
                          f"(on a manager from a secret), or load the key into an ssh-agent (ssh-add) and give "
                          f"no key")
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text), password=passphrase)
        except (paramiko.SSHException, ValueError, TypeError):
            continue
    if encrypted:
        raise RemoteError(f"{who}: {setting}private_key_passphrase does not open {where}: give that key's "
                          f"passphrase (ssh-keygen -y -f KEY asks for it and tells)")
    raise RemoteError(f"{who}: {where} is not an OpenSSH/PEM private key (ed25519, ecdsa or rsa): "
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


def known_host_keys(login):
    """(hostnames, key) of every entry of the ssh.known_hosts text, or else of the known_hosts_path file; a line kub
    cannot use is refused, not skipped."""
    if login.known_hosts:
        return _entries(login.known_hosts.splitlines(), "ssh.known_hosts", login)
    path = os.path.expanduser(login.known_hosts_path)
    if not os.path.isfile(path):
        raise RemoteError(f"{login.who}: known_hosts file {login.known_hosts_path} does not exist: create it "
                          f"with the {login.kind}'s key ({keyscan(login)} >> {login.known_hosts_path}, after "
                          f"checking the key) or set {login.setting}host_key_fingerprint")
    with open(path, errors="replace") as f:
        return _entries(f, f"ssh.known_hosts_path {login.known_hosts_path}", login)


def _entries(lines, where, login):
    entries = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            problem = f"is an {line.split()[0]} line, which kub does not support"
        else:
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
            except (paramiko.SSHException, ValueError, TypeError, IndexError) as err:
                entry, problem = None, f"holds a key kub cannot read ({short(err)})"
            else:
                problem = "is not a known_hosts entry (hosts, key type, key)"
            if entry is not None and entry.key is not None:
                entries.append((entry.hostnames, entry.key))
                continue
        raise RemoteError(f"{login.who}: {where} line {number} {problem}: remove or fix that line (or give "
                          f"kub a known_hosts file of its own), or set {login.setting}host_key_fingerprint")
    return entries
