"""The script runner: every change kub makes on a host is one script of scripts/, run while holding the host's kub
lock, logged as one line (what changed, or `no change`)."""
from ..errors import RemoteError
from . import scripts, state
from .commands import redact
from .payload import LOCK_BUSY


class StepError(RemoteError):
    """A step failed on a host."""


def ok_or_raise(host, result, what, secrets=()):
    """The result of a command that must succeed; else a one-line StepError (secrets redacted)."""
    if not result.ok:
        raise StepError(f"{host.ip}: {what} failed: {redact(error_line(result), secrets)}")
    return result


def apply(host, label, script, env=None, secret_env=None, timeout=900, secrets=(),
          lock_wait=state.LOCK_WAIT_SECONDS, lock=state.LOCK_FILE):
    """Runs one idempotent script under the host's kub lock (`lock`, an flock file) and logs one line: what
    changed, or that nothing had to. Lines the script marks `note:` are told to the user as they are. On a host opened
    for a plan (hosts.plan) the script runs in plan mode: its `would:` lines go to the plan, and are returned.
    `script`: a scripts.ScriptCall (scripts.RESET.call(...)), or a scripts.Script (or its file's name) with its
    variables by name in env and secret_env; either way checked against scripts' table before anything is sent."""
    call = scripts.bound(script, env, secret_env)
    result = host.run_script(call.name, env=call.env, secret_env=call.secret_env, timeout=timeout + lock_wait,
                             lock=(lock, lock_wait))
    if result.exit_code == LOCK_BUSY:
        raise StepError(f"{host.ip}: another kub run is working on this host (it held {lock} "
                        f"for over {lock_wait} s): let it finish, then run the workflow again")
    lines = result.stdout.splitlines()
    notes = [line[len("note: "):] for line in lines if line.startswith("note: ")]
    if not result.ok and host.plan is None:
        done = [line[len("changed: "):] for line in lines if line.startswith("changed: ")]
        if done:   # what the step changed before it failed stays changed: the user is told
            host.log(f"{label}: {'; '.join(done)} (before it failed)")
        for note in notes:
            host.log(note)
    ok_or_raise(host, result, label, secrets)
    if host.plan is not None:
        changes = [line[len("would: "):] for line in lines if line.startswith("would: ")]
        host.plan.add(host.ip, changes)
    else:
        changes = [line[len("changed: "):] for line in lines if line.startswith("changed: ")]
        host.log(f"{label}: {'; '.join(changes) if changes else 'no change'}")
    for note in notes:
        host.log(note)
    return changes


def error_line(result):
    for stream in (result.stderr, result.stdout):
        lines = [line.strip() for line in stream.splitlines() if line.strip()]
        marked = [line[len("error: "):] for line in lines if line.startswith("error: ")]
        if marked:
            return marked[-1]
        if lines:
            return lines[-1][:300]
    return f"exit code {result.exit_code}"

