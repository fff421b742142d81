"""The bastion (jump host) of hosts reached through one: one SSH connection to it per process, shared by every host
behind it (each host's connection is a direct-tcpip channel of it, through Fabric's gateway), closed when the last
of them closes. One connection, not one per host, because sshd drops new connections beyond MaxStartups (10) while
they log in, and kub opens up to 16 hosts at once.

A bastion that cannot be reached or refuses kub fails every host behind it with the same line, the host's address
in front: `10.0.0.12: bastion 10.0.0.5: unknown host key ...`."""
import threading
from concurrent.futures import Future

from ..errors import RemoteError, Unreachable
from .login import bastion_login, open_login

_lock = threading.Lock()
_open = {}   # Login -> Lease: the bastions open (or being opened) now


class Lease:
    """A host's use of its bastion's connection (`gateway`), shared with every host behind the same bastion."""

    def __init__(self, login):
        self.login = login
        self.opened = Future()   # the Connection once open, or the error that opening it ended with
        self.users = 0

    @property
    def gateway(self):
        return self.opened.result()

    def alive(self):
        return self.opened.done() and self.opened.exception() is None and self.gateway.is_connected


def acquire(settings, logger):
    """A Lease of the bastion's connection for a host (cluster.settings.SshSettings with a bastion): the bastion
    opened (or one already open reused). Give it back with release()."""
    login = bastion_login(settings)
    with _lock:
        lease = _open.get(login)
        if lease is not None and lease.opened.done() and not lease.alive():
            del _open[login]   # it failed, or its connection went away since: a new one
            lease = None
        opener = lease is None
        if opener:
            lease = _open[login] = Lease(login)
        lease.users += 1
    if opener:
        try:
            connection = open_login(login, logger)
            # the bastion's answer to each host's channel comes within the connect timeout, or the host is not reached
            connection.transport.channel_timeout = login.connect_timeout
            lease.opened.set_result(connection)
        except BaseException as err:
            lease.opened.set_exception(err)
    try:
        lease.opened.result()   # raises what opening it ended with
    except RemoteError as err:
        release(lease)
        raise _for_host(err, settings.ip) from None
    except BaseException:
        release(lease)
        raise
    return lease


def release(lease):
    """The host no longer uses the bastion's connection: it is closed when no other host does."""
    with _lock:
        lease.users -= 1
        last = lease.users == 0
        if last and _open.get(lease.login) is lease:
            del _open[lease.login]
    if last and lease.opened.done() and lease.opened.exception() is None:
        lease.gateway.close()


def _for_host(err, ip):
    """The bastion's error as a line of the host behind it (an Unreachable stays one: the host cannot be reached)."""
    if isinstance(err, Unreachable):
        return Unreachable(ip, f"{err.ip}: {err.reason}", err.fix)
    return type(err)(f"{ip}: {err}")
