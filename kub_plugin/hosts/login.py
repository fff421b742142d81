"""One SSH login as kub makes it: to a host, or to the bastion (jump host) a host is reached through. Its
credentials, the host keys it trusts, its TCP socket, and every way it can fail, told in one line that names the
machine that failed: `10.0.0.12: ...` for the host, `bastion 10.0.0.5: ...` for its bastion (ssh.py puts the host
in front of a bastion's line)."""
import socket
from dataclasses import dataclass, field

import paramiko
from fabric import Config, Connection

from ..errors import RemoteError, Unreachable, short
from .keys import (
    VerifyPolicy,
    WarnPolicy,
    check_agent,
    fingerprint,
    keyscan,
    known_host_keys,
    known_hosts_name,
    load_key,
)

# A peer that stops acknowledging for this long is dead: commands fail instead of hanging on a cut link.
DEAD_PEER_SECONDS = 30
KEEPALIVE_SECONDS = 5


@dataclass(frozen=True)
class Login:
    """Where to log in and how, and how messages name it: `who` starts them, `setting` prefixes the settings they
    name (ssh. or ssh.bastion.), `kind` is host or bastion; `through`: the bastion a host is reached through."""
    who: str
    address: str
    port: int
    user: str
    setting: str = "ssh."
    kind: str = "host"
    through: str = ""
    private_key_path: str = ""
    private_key: str = field(default="", repr=False)
    private_key_passphrase: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    known_hosts_path: str = "~/.ssh/known_hosts"
    known_hosts: str = field(default="", repr=False)   # known_hosts lines as text, instead of the file
    host_key_fingerprint: str = ""
    verify_host_key: bool = True
    connect_timeout: int = 10

    @property
    def has_key(self):
        return bool(self.private_key or self.private_key_path)

    @property
    def known_hosts_where(self):
        """Where the trusted host keys are, as messages name it: the ssh.known_hosts text, or the file."""
        return "ssh.known_hosts" if self.known_hosts else self.known_hosts_path

    def add_key_line(self):
        """How the line of a checked host key is added where the trusted keys are."""
        scan = keyscan(self)
        return (f"add the line {scan} prints to ssh.known_hosts" if self.known_hosts
                else f"add it ({scan} >> {self.known_hosts_path})")


def host_login(s):
    """The login to a host (cluster.settings.SshSettings)."""
    return Login(s.ip, s.ip, s.port, s.user, through=s.bastion.address if s.bastion else "",
                 private_key_path=s.private_key_path, private_key=s.private_key,
                 private_key_passphrase=s.private_key_passphrase, password=s.password,
                 known_hosts_path=s.known_hosts_path, known_hosts=s.known_hosts,
                 host_key_fingerprint=s.host_key_fingerprint,
                 verify_host_key=s.verify_host_key, connect_timeout=s.connect_timeout)


def bastion_login(s):
    """The login to the bastion of a host (its ssh.bastion): its own user, port, key and pinned key; the host's
    known_hosts file, host key rule and timeout."""
    b = s.bastion
    return Login(f"bastion {b.address}", b.address, b.port, b.user, setting="ssh.bastion.", kind="bastion",
                 private_key_path=b.private_key_path, private_key=b.private_key,
                 private_key_passphrase=b.private_key_passphrase, known_hosts_path=s.known_hosts_path,
                 known_hosts=s.known_hosts,
                 host_key_fingerprint=b.host_key_fingerprint, verify_host_key=s.verify_host_key,
                 connect_timeout=s.connect_timeout)


def open_login(login, logger, gateway=None):
    """An open Fabric Connection for `login`: over a TCP socket of its own, or with `gateway` (an open Connection to
    the bastion) over a direct-tcpip channel of the bastion's (Fabric's gateway). Fails in one line."""
    kwargs = {"allow_agent": False, "look_for_keys": False, "banner_timeout": login.connect_timeout,
              "auth_timeout": login.connect_timeout}
    if login.has_key:
        kwargs["pkey"] = load_key(login)
    if login.password:
        kwargs["password"] = login.password
    if not (login.has_key or login.password):
        check_agent(login)
        kwargs["allow_agent"] = True
    conn = Connection(login.address, user=login.user, port=login.port, gateway=gateway,
                      config=Config(overrides={"load_ssh_configs": False}), connect_kwargs=kwargs)
    _trust_host_keys(conn.client, login, logger)
    if gateway is None:
        kwargs["sock"] = _socket(login)
    try:
        conn.open()
    except BaseException as err:
        # whether the host still speaks: a login it refused leaves the connection up, a dead host's is gone
        transport = conn.client.get_transport()
        answered = transport is not None and transport.is_active()
        close(conn)   # the transport, and with it its socket or channel
        if "sock" in kwargs:
            kwargs["sock"].close()
        raise login_error(login, err, answered) from None
    conn.transport.set_keepalive(KEEPALIVE_SECONDS)
    return conn


def close(conn):
    """Closes a login's connection. Over a bastion's channel, under its transport's send lock: a message the transport
    thread sends (its answer to the host closing a session) must not follow the channel's close to the bastion, whose
    sshd ends its whole connection, every other host's with it, on data for a channel it closed."""
    transport = conn.client.get_transport()
    if transport is None or conn.gateway is None:
        conn.client.close()
        return
    with transport.clear_to_send_lock:
        conn.client.close()


def _replace_line(login):
    if login.known_hosts:
        return f"then replace the line of {known_hosts_name(login)} in ssh.known_hosts by the new one"
    return (f"remove the old line (ssh-keygen -R {known_hosts_name(login)} -f {login.known_hosts_path}) and add the "
            f"new one")


def login_error(login, err, answered=True):
    """The one-line error for a failed handshake or login (our own RemoteErrors pass as they are). A login that got
    no answer (the host went silent, its connection closed or reset) is a host that is down, not a refused login."""
    who, kind, port = login.who, login.kind, login.port
    through = f" (through bastion {login.through})" if login.through else ""
    if isinstance(err, paramiko.BadHostKeyException):
        return RemoteError(
            f"{who}: host key CHANGED: it is now {fingerprint(err.key)}, {login.known_hosts_where} has "
            f"{fingerprint(err.expected_key)}: if the {kind} was reinstalled, check the new key on the {kind}, "
            f"{_replace_line(login)}; otherwise someone may be in between")
    if isinstance(err, paramiko.ChannelException):   # the bastion could not open the way to the host
        if err.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
            return RemoteError(f"{who}: bastion {login.through} refused to forward a connection to port {port} "
                               f"({err.text}): allow TCP forwarding on the bastion (AllowTcpForwarding in its "
                               f"sshd_config)")
        return Unreachable(who, f"bastion {login.through} cannot connect to SSH port {port} ({err.text})",
                           f"check that the {kind} is up, that sshd listens on port {port} and that the bastion "
                           f"reaches it")
    if login.through and "Timeout opening channel" in str(err):
        return Unreachable(who, f"bastion {login.through} got no answer from SSH port {port} within "
                                f"{login.connect_timeout} s", f"check that the {kind} is up and that the bastion "
                                                              f"reaches it")
    if isinstance(err, paramiko.AuthenticationException) and (not answered or "timeout" in str(err).lower()):
        return Unreachable(who, f"the SSH login on port {port} got no answer ({short(err)}){through}",
                           f"the {kind} may be down or hung: check that it is up and that sshd answers there")
    if isinstance(err, paramiko.AuthenticationException):
        credential = ("keys in the ssh-agent (SSH_AUTH_SOCK)" if not (login.has_key or login.password)
                      else "key or password" if login.kind == "host" else "key")
        return RemoteError(
            f"{who}: SSH login as {login.user!r} was refused: check {login.setting}user and the {credential} "
            f"(the public key must be in ~{login.user}/.ssh/authorized_keys on the {kind})")
    if isinstance(err, (paramiko.SSHException, EOFError, OSError)):
        return Unreachable(who, f"SSH handshake on port {port} failed ({short(err)}){through}",
                           "check that sshd answers there")
    return err


def _socket(login):
    """The TCP connection to the login's SSH port, one line naming the setting to fix when there is none."""
    port = login.port
    try:
        sock = socket.create_connection((login.address, port), timeout=login.connect_timeout)
    except ConnectionRefusedError:
        raise Unreachable(login.who, f"connection refused on SSH port {port}",
                          f"start sshd on the {login.kind} or set {login.setting}port") from None
    except OSError as err:
        reason = f"no answer within {login.connect_timeout} s" if isinstance(err, socket.timeout) else short(err)
        address = "IP" if login.kind == "host" else f"{login.setting}address"
        raise Unreachable(login.who, f"cannot reach SSH port {port} ({reason})",
                          f"check the {address}, that the {login.kind} is up and that a firewall lets port {port} "
                          f"through") from None
    # Linux: give up on a peer that acknowledges nothing for DEAD_PEER_SECONDS (keepalives keep data in
    # flight), so a cut link fails the step instead of hanging it for the TCP default of ~15 min.
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_PEER_SECONDS * 1000)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def _trust_host_keys(client, login, logger):
    client.get_host_keys().clear()
    if not login.verify_host_key:
        client.set_missing_host_key_policy(WarnPolicy(logger, login))
        return
    if not login.host_key_fingerprint:
        for hostnames, key in known_host_keys(login):
            for name in hostnames:
                client.get_host_keys().add(name, key.get_name(), key)
    client.set_missing_host_key_policy(VerifyPolicy(login))
