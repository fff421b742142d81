"""Work on several hosts at once, each over its own connection, every failure reported."""
from concurrent.futures import ThreadPoolExecutor

from ..errors import ConnectionLost, RemoteError, Unreachable
from .ssh import Host

MAX_PARALLEL_HOSTS = 16


def on_hosts(settings_list, logger, work, unreachable=None, plan=None):
    """Runs work(host) on every host in parallel, each over its own connection: {ip: result}. With `unreachable`,
    a host no session could be opened to gives unreachable(err) (an Unreachable) as its result instead. With a
    `plan` (hosts.plan.Plan), the hosts are opened for it.

    Every failure is reported: one alone as it is, several in one error that names each host. Only when all
    of them are lost connections is the whole a ConnectionLost (worth a retry)."""
    def one(settings):
        host = Host(settings, logger, plan)
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
        message = f"{len(errors)} of {len(settings_list)} hosts failed: " + " | ".join(_alike(errors))
        raise (ConnectionLost if all(isinstance(e, ConnectionLost) for e in errors) else RemoteError)(message)
    return results


def _alike(errors):
    """Each host's failure, but a bastion's once, with every host behind it (they fail alike): `A, B: bastion ...`."""
    hosts = {}
    for err in map(str, errors):
        ip, _, problem = err.partition(": ")
        key = problem if problem.startswith("bastion ") else err
        hosts.setdefault(key, []).append(ip if key == problem else "")
    return [f"{', '.join(ips)}: {problem}" if all(ips) else problem for problem, ips in hosts.items()]
