"""Who the lab's hosts are and who logs in to them: host names, ssh host keys, machine-ids, users.

A host's identity is made once and kept in the lab's state dir, outside its disk (hosts/hI/identity), so a
wiped host comes back as the same host: same name, host key and machine-id. The client side is the lab's own
ssh key (authorized for every user) and the sudo password of user kubpw.
"""
import secrets
from pathlib import Path

from kub_lab import system

# (home directory under the host's root, user): each gets the lab's key in ~/.ssh/authorized_keys.
# root; kub, a passwordless sudoer; kubpw, whose sudo asks for Lab.sudo_password
USERS = (("root", "root"), ("home/kub", "kub"), ("home/kubpw", "kubpw"))


def hostname(i):
    return f"kubh{i}"


class Identities:
    """The identity half of Lab (mixed into it): made at `up`, staged into each host at every boot."""

    @property
    def sudo_password(self):
        """Password of user kubpw (the only user whose sudo asks for one); made once per lab index."""
        path = self.state_dir / "sudo_password"
        if not path.exists():
            self._ensure_client_identity()
        return path.read_text().strip()

    def _ensure_client_identity(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        key = Path(self.ssh_private_key_path)
        if not key.exists():
            system.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"kub-lab-{self.index}",
                        "-f", str(key)])
        password = self.state_dir / "sudo_password"
        if not password.exists():
            value = secrets.token_urlsafe(12)
            hashed = system.run(["openssl", "passwd", "-6", "-stdin"], input=value + "\n").stdout.strip()
            (self.state_dir / "kubpw.hash").write_text(hashed + "\n")
            password.write_text(value + "\n")
            password.chmod(0o600)

    def _ensure_host_identity(self, i):
        identity = self._host_dir(i) / "identity"
        identity.mkdir(parents=True, exist_ok=True)
        key = identity / "ssh_host_ed25519_key"
        if not key.exists():
            system.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{hostname(i)}", "-f", str(key)])
        machine_id = identity / "machine-id"
        if not machine_id.exists():
            machine_id.write_text(secrets.token_hex(16) + "\n")

    def known_hosts(self):
        """known_hosts lines (by IP) with each host's real ed25519 host key."""
        lines = []
        for i in range(1, self._host_count() + 1):
            pub = self._host_dir(i) / "identity" / "ssh_host_ed25519_key.pub"
            if pub.exists():
                key_type, key = pub.read_text().split()[:2]
                lines.append(f"{self.host_ip(i)} {key_type} {key}\n")
        return "".join(lines)

    def write_known_hosts(self, path):
        Path(path).write_text(self.known_hosts())
        return str(path)

    def _stage_identity(self, files, i, count):
        """Adds host i's identity files (and the names of its `count` neighbours) to its boot files."""
        identity = self._host_dir(i) / "identity"
        hosts = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback", "ff02::1 ip6-allnodes",
                 "ff02::2 ip6-allrouters"]
        hosts += [f"{self.host_ip(k)} {hostname(k)}" for k in range(1, count + 1)]
        files.add("etc/hostname", f"{hostname(i)}\n")
        files.add("etc/hosts", "\n".join(hosts) + "\n")
        files.add("etc/machine-id", (identity / "machine-id").read_text())
        files.add("etc/ssh/ssh_host_ed25519_key", (identity / "ssh_host_ed25519_key").read_text(), 0o600)
        files.add("etc/ssh/ssh_host_ed25519_key.pub", (identity / "ssh_host_ed25519_key.pub").read_text())
        authorized = Path(self.ssh_private_key_path + ".pub").read_text()
        for home, user in USERS:
            files.add(f"{home}/.ssh/authorized_keys", authorized, 0o600, user=user, dir_mode=0o700)
