"""What a script run sends to a host: the variables as exports, scripts/lib.sh, then the script (all on stdin, none
on a command line), and the shell line that runs it under the host's kub lock."""
import os
import re
from importlib import resources

from .commands import Command, Raw, quote
from .scripts import DRY_RUN

LOCK_BUSY = 75   # exit code of a locked run_script whose lock another holder kept


def script_text(name):
    return resources.files("kub_plugin.scripts").joinpath(name).read_text()


def script_payload(name, env):
    """What `bash -s` reads for scripts/<name>: the variables as exports, then scripts/lib.sh, then the script."""
    for variable in env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
            raise TypeError(f"{variable!r} is not the name of a shell variable")
    lines = [f"export {variable}={quote(value)}" for variable, value in env.items()]
    return "\n".join(lines + [script_text("lib.sh"), script_text(name)]) + "\n"


def script_run(name, env, secret_env, plan_mode, lock):
    """(the command, what it reads on stdin) of a run of scripts/<name> with these variables (in plan mode: with
    DRY_RUN=yes), under the flock `lock` = (path, seconds) when given."""
    env = {**(env or {}), **({DRY_RUN: "yes"} if plan_mode else {})}
    payload = script_payload(name, {**env, **(secret_env or {})})
    dry_run = env.get(DRY_RUN) == "yes"
    return (Command("sh", "-c", locked_bash(*lock, dry_run=dry_run)) if lock else Command("bash", "-s")), payload


def locked_bash(path, seconds, dry_run=False):
    """A shell line running `bash -s` only while it holds the flock `path` (its folder made when missing); exit
    code LOCK_BUSY when another holder keeps it longer than the seconds."""
    locked = Command(Raw("exec"), "flock", "-w", int(seconds), "-E", LOCK_BUSY, path, "bash", "-s")
    if dry_run:
        # a dry run leaves nothing behind, the lock and its folder included: it waits for a lock that is there, and
        # where there is none, no kub run has worked on the host yet (a plan may then read a change under way)
        line = Command(Raw("if [ -e"), path, Raw("]; then"), locked, Raw("; else exec bash -s; fi"))
    else:
        line = Command("mkdir", "-p", "-m", "0700", os.path.dirname(path), Raw("&&"), locked)
    return line.text
