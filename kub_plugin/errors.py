"""kub's one-line errors: each names the setting or the host, the problem and the fix. The Cloudify operations
turn them into task errors (cfy/errors.py)."""


class ConfigError(Exception):
    """Bad input: nothing was changed on any host."""


class RemoteError(Exception):
    """A host could not be reached or a command on it failed."""


class ConnectionLost(RemoteError):
    """The connection broke in the middle of a step: running the step again may well succeed."""


class Unreachable(RemoteError):
    """No SSH session could be opened to the host (no answer, refused, no handshake): nothing ran there."""

    def __init__(self, ip, reason, fix):
        super().__init__(f"{ip}: {reason}: {fix}")
        self.ip, self.reason, self.fix = ip, reason, fix


def short(err):
    """The first line of an error, for a one-line message."""
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:160]
