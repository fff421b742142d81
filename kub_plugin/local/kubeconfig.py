"""The admin kubeconfig kub writes on the machine running cfy: recorded by its sha256, written only where nothing
is or what is there is kub's, removed only while it holds what kub wrote."""
import hashlib
import os
import stat
import tempfile

from ..errors import ConfigError


def sha256(text):
    """What kub records of a kubeconfig it writes here: its sha256 (never the content: it holds credentials)."""
    return hashlib.sha256(text.encode()).hexdigest()


def holds(path, sha256):
    """Whether path is a regular file (not a link) whose content has this sha256."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        return stat.S_ISREG(os.fstat(fd).st_mode) and hashlib.sha256(f.read()).hexdigest() == sha256


def place(path, text, recorded, deployment_id):
    """Where kub's admin kubeconfig goes here: `path` when nothing is there, or what is there is kub's (it holds
    what kub recorded writing, or this very text); else, never over the file it found, beside it
    (`<path>.kub-<deployment>`, under the same rule). recorded: {path: sha256} of what kub wrote before.
    Returns (where, the file it found and left at `path`, or '')."""
    beside = f"{path}.kub-{deployment_id}"
    wanted = sha256(text)
    for candidate in (path, beside):
        if not os.path.lexists(candidate) or any(holds(candidate, sha) for sha in (recorded.get(candidate), wanted)
                                                 if sha):
            return candidate, "" if candidate == path else path
    raise ConfigError(f"local_kubeconfig_path {path} and {beside} are files kub did not write (or that changed "
                      f"since): kub overwrites neither; move one away, or set local_kubeconfig_path to a new file")


def write(path, text):
    """Writes a kubeconfig here, mode 0600, only when it differs. Returns True when written. The caller decided
    that path is free or kub's (place).

    Through a temporary file made with O_EXCL|O_NOFOLLOW in the target's folder, then renamed over the target:
    a planted symlink or a leftover file with a loose mode decides neither where the secret goes nor its mode."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o600 and st.st_uid == os.getuid() and \
                holds(path, sha256(text)):
            return False
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(prefix=".kub-", dir=folder)   # O_EXCL|O_NOFOLLOW, mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return True


def remove(path, sha256):
    """Removes the local kubeconfig kub wrote, only while it holds what kub recorded writing (sha256). Returns
    what was done, in one line: removed, left (changed since, or not a file), or '' when nothing is there."""
    if not os.path.lexists(path):
        return ""
    if sha256 and holds(path, sha256):
        os.unlink(path)
        return f"removed the local kubeconfig {path}"
    why = "it changed since kub wrote it" if sha256 else "kub has no record of what it wrote there"
    return f"left the local kubeconfig {path} as it is: {why} (edited by hand?); remove it yourself if it is not needed"


def default_path(deployment_id):
    """Where the admin kubeconfig goes here when local_kubeconfig_path is empty."""
    return os.path.join("~", ".kube", f"kub-{deployment_id}.conf")
