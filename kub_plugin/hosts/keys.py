"""SSH keys: the private key kub logs in with (or the ssh-agent's), and the host keys it trusts (known_hosts or a
pinned fingerprint; an unknown key is refused, never added)."""
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


class WarnPolicy(paramiko.MissingHostKeyPolicy):
    def __init__(self, logger, ip):
        self.logger, self.ip = logger, ip

    def missing_host_key(self, client, hostname, key):
        self.logger.warning(f"[{self.ip}] host key NOT verified (ssh.verify_host_key is false): "
                            f"accepting {fingerprint(key)}")


def check_agent(settings):
    """No key, key path or password: the keys of the ssh-agent at SSH_AUTH_SOCK (cluster/properties.py made sure it
    is set) log in; it must hold one."""
    agent = paramiko.Agent()
    try:
        if not agent.get_keys():
            where = os.environ.get("SSH_AUTH_SOCK", "")
            raise RemoteError(f"{settings.ip}: the ssh-agent at SSH_AUTH_SOCK {where} holds no key (or cannot be "
                              f"reached): ssh-add the key, or set ssh.private_key_path")
    finally:
        agent.close()


def load_key(settings):
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
            raise RemoteError(f"{settings.ip}: {where} cannot be read ({short(err)}): give a readable OpenSSH "
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


def known_host_keys(settings):
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
                    entry, problem = None, f"holds a key kub cannot read ({short(err)})"
                else:
                    problem = "is not a known_hosts entry (hosts, key type, key)"
                if entry is not None and entry.key is not None:
                    entries.append((entry.hostnames, entry.key))
                    continue
            raise RemoteError(f"{settings.ip}: {where} line {number} {problem}: remove or fix that line (or give "
                              f"kub a known_hosts file of its own), or set ssh.host_key_fingerprint")
    return entries
