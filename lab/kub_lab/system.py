"""Every command the lab runs on this machine goes through here (ip, nft, tc, cgroups, processes, locks)."""
import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 hierarchies the hosts get (the machine is cgroup v1 "hybrid"); "unified" is the cgroup2 mount
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                      "systemd", "unified")
REQUIRED_TOOLS = ("ip", "nft", "tc", "unshare", "nsenter", "mount", "chroot", "debootstrap", "ssh-keygen",
                  "openssl")


class LabError(Exception):
    """A problem the user can fix; the message is one line saying what and how."""


def run(argv, input=None, check=True, timeout=60):
    """Run a command, capture text output; raise LabError with its stderr when it fails."""
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"command timed out after {timeout}s: {' '.join(argv)}")
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"command failed: {' '.join(argv)}: {detail[-1] if detail else proc.returncode}")
    return proc


def missing_tools():
    return [t for t in REQUIRED_TOOLS if shutil.which(t) is None]


# ---- locks ------------------------------------------------------------------------------------------

@contextlib.contextmanager
def flock(path):
    """Exclusive lock on a file, held for the with-block (between processes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def built_once(final, marker, name, what, build, log):
    """The cache directory `final`, built by build(tmp) once, where a file `marker` in it says it is whole: one
    builder at a time (under <its folder>/<name>.lock; others wait, then find it built), in a temporary folder
    renamed into place, so that a failed build leaves nothing behind."""
    final = Path(final)
    if (final / marker).is_file():
        return final
    with flock(final.parent / f"{name}.lock"):
        if (final / marker).is_file():
            return final
        print(f"kub-lab: building {what} in {final} (once)", file=log)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-build-", dir=final.parent))
        try:
            build(tmp)
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# ---- network ----------------------------------------------------------------------------------------

def link_exists(name):
    return Path("/sys/class/net", name).exists()


def links_matching(pattern):
    return sorted(n for n in os.listdir("/sys/class/net") if re.fullmatch(pattern, n))


def netns_list():
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def ip_batch(lines, netns=None):
    """Several `ip` commands in one process; with netns, run them inside that network namespace."""
    if not lines:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    run(argv, input="\n".join(lines) + "\n")


def addresses_in(prefix):
    """Addresses on this machine (root namespace) that start with prefix, e.g. '10.231.5.'."""
    out = run(["ip", "-o", "-4", "addr", "show"]).stdout
    return [line.split()[3] for line in out.splitlines() if line.split()[3].startswith(prefix)]


def nft_apply(ruleset, netns=None):
    argv = (["ip", "netns", "exec", netns] if netns else []) + ["nft", "-f", "-"]
    run(argv, input=ruleset)


def nft_tables():
    """[(family, name)] of the root namespace's nft tables."""
    out = run(["nft", "list", "tables"]).stdout
    return [tuple(line.split()[1:3]) for line in out.splitlines() if line.startswith("table ")]


def nft_delete_table(family, name):
    run(["nft", "delete", "table", family, name], check=False)


def tc(args, netns=None):
    run(["tc"] + (["-n", netns] if netns else []) + args)


# ---- cgroups ----------------------------------------------------------------------------------------

def cgroup_create(relpath):
    """Create /sys/fs/cgroup/<ctrl>/<relpath> in every hierarchy; cpuset needs cpus/mems copied down."""
    for ctrl in CGROUP_CONTROLLERS:
        (CGROUP_ROOT / ctrl / relpath).mkdir(parents=True, exist_ok=True)
    parts = Path(relpath).parts
    for depth in range(1, len(parts) + 1):
        d = CGROUP_ROOT / "cpuset" / Path(*parts[:depth])
        parent = d.parent
        for f in ("cpuset.cpus", "cpuset.mems"):
            if not (d / f).read_text().strip():
                (d / f).write_text((parent / f).read_text())


def cgroup_dirs(relpath):
    return [CGROUP_ROOT / ctrl / relpath for ctrl in CGROUP_CONTROLLERS]


def cgroup_join(pid, relpath):
    for d in cgroup_dirs(relpath):
        (d / "cgroup.procs").write_text(f"{pid}\n")


def cgroup_pids(relpath):
    """PIDs in a cgroup subtree (pids hierarchy: every process is there)."""
    top = CGROUP_ROOT / "pids" / relpath
    pids = set()
    if not top.exists():
        return pids
    for procs in top.rglob("cgroup.procs"):
        try:
            pids.update(int(p) for p in procs.read_text().split())
        except OSError:
            pass
    return pids


def cgroup_remove(relpath):
    """Remove the subtree in every hierarchy, deepest first. Returns True when nothing is left."""
    ok = True
    for top in cgroup_dirs(relpath):
        if not top.exists():
            continue
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for d in dirs + [top]:
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
    return ok


# ---- processes --------------------------------------------------------------------------------------

def process_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def process_cgroup(pid):
    try:
        return Path(f"/proc/{pid}/cgroup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def nspid(pid):
    """The NSpid line of a process: its pid in each nested PID namespace."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return []


def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    reap(pid)


def reap(pid):
    """Collect a child of ours that exited, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_until(predicate, timeout, interval=0.05):
    """The predicate's first true value, asked every `interval` seconds; its last value once `timeout` is over."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def spawn_detached(argv, log_path, env=None):
    """Start a long-running process in its own session, output to a log; returns its pid."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env)
    return proc.pid


# ---- sysctl -----------------------------------------------------------------------------------------

def sysctl_path(key):
    return Path("/proc/sys", key.replace(".", "/"))


def sysctl_get(key):
    return sysctl_path(key).read_text().strip()


def sysctl_set(key, value):
    sysctl_path(key).write_text(f"{value}\n")
