"""kub's own folder on the machine running cfy (a cfy user's, or a Cloudify Manager worker's): the kubectl releases
it keeps, its lock files, and the private folders operations work in.

KUB_LOCAL_DIR names it; else it is `kub` in the user's cache folder ($XDG_CACHE_HOME or ~/.cache), or, where the
user has no home to write in (a service account), `kub-<uid>` in the temporary folder. It must be a folder of this
user that no one else may write in; kub makes it (mode 0700) when missing."""
import os
import stat
import tempfile

from ..errors import ConfigError

LOCAL_DIR_VARIABLE = "KUB_LOCAL_DIR"


def kub_dir(*parts):
    """kub's folder here (or a folder in it, made when missing, mode 0700)."""
    path = os.path.join(_base(), *parts)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _candidates():
    configured = os.environ.get(LOCAL_DIR_VARIABLE)
    if configured:
        return [os.path.abspath(os.path.expanduser(configured))]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [os.path.join(cache, "kub"), os.path.join(tempfile.gettempdir(), f"kub-{os.getuid()}")]


def _base():
    candidates = _candidates()
    for path in candidates:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            found = os.lstat(path)
        except OSError:
            continue
        if private(found):
            return path
    raise ConfigError(f"the machine running cfy: kub has no folder of its own there ({' nor '.join(candidates)} is "
                      f"a folder of this user that others cannot write in): set {LOCAL_DIR_VARIABLE} to one")


def private(found):
    """Whether an lstat result is a folder (not a link) of this user that no one else may write in."""
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid() and not found.st_mode & 0o022
