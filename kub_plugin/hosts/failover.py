"""The first of several hosts that answers: where kub works on a cluster whose masters may not all be up."""
from ..errors import Unreachable
from .ssh import Host


def first_answering(candidates, logger, plan=None):
    """An open Host (a context manager) of the first of `candidates` (SshSettings, in order) that answers SSH. When
    none does, the Unreachable of the first. The ones skipped are told in a line each."""
    first_error = None
    for settings in candidates:
        host = Host(settings, logger, plan)
        try:
            host.open()
        except Unreachable as err:
            first_error = first_error or err
            if len(candidates) > 1:
                logger.warning(f"[{settings.ip}] {err.reason}: trying the next master")
            continue
        if first_error is not None:
            host.log("working on the cluster from this master")
        return host
    raise first_error
