"""The boundary between kub's Python and scripts/: the table of scripts and their variables (hosts/scripts.py) read
against the shell itself, the command lines kub sends (hosts/commands.py), and the one poll loop (hosts/waiting.py)."""
import re
import socket
import subprocess
from pathlib import Path

import pytest
from test_local import release_mirror  # noqa: F401  (a fixture)
from test_steps import CLUSTER_ID, MARK, TOKEN, FakeChannel, FakeHost, facts_of, host_on

from kub_plugin.cluster import prepare
from kub_plugin.errors import RemoteError
from kub_plugin.hosts import runner, scripts, ssh, state, waiting
from kub_plugin.hosts.commands import Command, Quoted, Raw, Secret, redact
from kub_plugin.local import containerd

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
SHARED = set(state.SCRIPT_ENV) | {scripts.DRY_RUN}
READ = re.compile(r"\$\{?(KUB_[A-Z0-9_]+)")
FUNCTION = re.compile(r"^([a-z_]+)\(\) \{(.*)$")


def code(text):
    """A script without its comment lines."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def header(text):
    """A script's leading comment (after the #! line)."""
    lines = text.splitlines()[1:]
    return "\n".join(line for line in lines[:next(i for i, line in enumerate(lines) if not line.startswith("#"))])


def lib_functions():
    """({name: body} of lib.sh's functions, lib.sh's code outside them)."""
    functions, outside, name, body = {}, [], None, []
    for line in code((SCRIPTS / "lib.sh").read_text()).splitlines():
        if name is not None:
            if line == "}":
                functions[name], name = "\n".join(body), None
            else:
                body.append(line)
        elif FUNCTION.match(line):
            found, rest = FUNCTION.match(line).groups()
            if re.fullmatch(r"\s*(#.*)?", rest):
                name, body = found, []
            else:
                functions[found] = rest
        else:
            outside.append(line)
    return functions, "\n".join(outside)


def shell_of(script):
    """The code a script runs: its own and that of every lib.sh function it calls (and those call)."""
    functions, _ = lib_functions()
    texts, seen, todo = [code((SCRIPTS / script).read_text())], set(), None
    while todo != set():
        todo = {f for f in functions if f not in seen
                and any(re.search(rf"(?<![\w-]){f}(?![\w-])", text) for text in texts)}
        seen |= todo
        texts += [functions[f] for f in todo]
    return "\n".join(texts)


SCRIPT_FILES = sorted(p.name for p in SCRIPTS.glob("*.sh") if p.name != "lib.sh")


def test_the_table_names_every_script_and_only_those():
    assert sorted(scripts.SCRIPTS) == SCRIPT_FILES
    assert all(name.startswith(scripts.PREFIX) for s in scripts.SCRIPTS.values() for name in s.variables)


@pytest.mark.parametrize("name", SCRIPT_FILES)
def test_each_script_reads_exactly_the_variables_its_table_entry_names(name):
    """What the shell reads (its own code and the lib.sh functions it calls), less the shared variables, is what the
    table says it takes: neither can change without the other."""
    entry = scripts.named(name)
    read = set(READ.findall(shell_of(name))) - SHARED
    assert read == entry.variables, f"{name} reads {sorted(read)}; the table says {sorted(entry.variables)}"
    assert not entry.variables & SHARED
    # and its header tells them, and no other
    told = header((SCRIPTS / name).read_text())
    assert [v for v in sorted(entry.variables) if not re.search(rf"\b{v}\b", told)] == []
    assert set(re.findall(r"\bKUB_[A-Z0-9_]+", told)) - SHARED <= entry.variables


@pytest.mark.parametrize("name", [s.name for s in scripts.SCRIPTS.values() if s.optional])
def test_an_optional_variable_is_read_only_with_a_default(name):
    shell = shell_of(name)
    for variable in scripts.named(name).optional:
        reads = re.findall(rf"\$\{{?{variable}\b.?.?", shell)
        assert reads and all(read.startswith(f"${{{variable}:-") for read in reads), (variable, reads)


def test_lib_sh_outside_its_functions_reads_only_shared_variables():
    _, outside = lib_functions()
    assert set(READ.findall(outside)) <= SHARED


def test_a_missing_or_unknown_variable_is_refused_before_anything_is_sent():
    host = FakeHost()
    with pytest.raises(TypeError, match=r"prepare-host\.sh takes KUB_CLUSTER_ID, KUB_OWNER .*: missing KUB_OWNER"):
        runner.apply(host, "owner mark", scripts.PREPARE_HOST.call(cluster_id=CLUSTER_ID))
    with pytest.raises(TypeError, match=r"unknown KUB_OWNR missing KUB_OWNER"):
        scripts.PREPARE_HOST.call(cluster_id=CLUSTER_ID, ownr=MARK)
    with pytest.raises(TypeError, match="missing KUB_CLUSTER_ID"):   # by name, as the lab's tests give them
        runner.apply(host, "owner mark", "prepare-host.sh", env={"KUB_OWNER": MARK})
    with pytest.raises(TypeError, match=r"cni-record\.sh takes no variable of its own .*: unknown KUB_DIR"):
        runner.apply(host, "CNI record", scripts.CNI_RECORD, env={"KUB_DIR": "/elsewhere"})   # shared: not set here
    with pytest.raises(TypeError, match="unknown KUB_JOIN_CONFIG"):   # a secret only in secret_env
        scripts.JOIN.bind({"KUB_API_ENDPOINT": "a", "KUB_RESET_FIRST": "no", "KUB_RECORD": "r",
                           "KUB_CRI_SOCKET": "s", "KUB_JOIN_CONFIG": "token inside"})
    with pytest.raises(TypeError, match="kub has no script 'prepare.sh'"):
        runner.apply(host, "owner mark", "prepare.sh")
    with pytest.raises(TypeError, match="given once"):
        runner.apply(host, "reset", scripts.RESET.call(cri_socket="s"), env={"KUB_PURGE": "yes"})
    assert host.scripts == [] and host.logged == []


def test_a_call_sends_the_shared_variables_its_own_and_its_secrets_apart():
    call = scripts.WORKLOAD_APPLY.call(kubeconfig="/k", namespace="shop", namespace_object="{}", manifest="SECRET")
    assert call.secret_env == {"KUB_MANIFEST": "SECRET"} and "SECRET" not in str(call.env)
    assert call.env == {**state.SCRIPT_ENV, **scripts.NO_CACHE, "KUB_KUBECONFIG": "/k", "KUB_NAMESPACE": "shop",
                        "KUB_NAMESPACE_OBJECT": "{}"}
    host = FakeHost()
    runner.apply(host, "workload", call)
    assert host.scripts == [("workload-apply.sh", call.env, call.secret_env, (state.LOCK_FILE,
                                                                              state.LOCK_WAIT_SECONDS))]
    assert scripts.keywords({"KUB_UNIT_SHA256": "cc"}) == {"unit_sha256": "cc"}


def test_containerd_releases_sums_are_the_variables_its_script_takes(release_mirror):  # noqa: F811
    cluster, _ = release_mirror
    release = containerd.containerd_release(cluster, "amd64")
    host = FakeHost()
    host.upload = lambda data, path: ssh.Result("", "", 0)
    prepare.install_containerd_release(host, facts_of({}), cluster, release)
    name, env, _, _ = host.scripts[0]
    assert name == "containerd-release.sh" and env["KUB_RECORD"] == release.record
    assert {k: v for k, v in env.items() if k in scripts.CONTAINERD_RELEASE.variables} == \
        {"KUB_RECORD": release.record, **release.sums()}


ODD = ["it's", "a b", "$HOME", "`id`", "; rm -rf /", "", "--x=1", "é\ttab", "*", "new\nline"]


def test_every_value_reaches_the_command_as_it_is(tmp_path):
    command = Command("printf", "%s|", *ODD, Raw(">"), str(tmp_path / "out file"))
    subprocess.run(["sh", "-c", command.text], check=True)
    assert (tmp_path / "out file").read_text() == "|".join(ODD) + "|"
    # and as one script for sh -c, with its own values still whole
    subprocess.run(["sh", "-c", Command("sh", "-c", Quoted(command)).text], check=True)
    assert (tmp_path / "out file").read_text() == "|".join(ODD) + "|"


def test_secrets_are_sent_and_shown_masked():
    command = Command("kubeadm", "token", "delete", Secret("abcdef"))
    assert command.text == "kubeadm token delete abcdef"
    assert command.masked == str(command) == "kubeadm token delete ***" and "abcdef" not in repr(command)
    outer = Command("timeout", 5, "sh", "-c", Quoted(command))
    assert outer.text == "timeout 5 sh -c 'kubeadm token delete abcdef'"
    assert outer.masked == "timeout 5 sh -c 'kubeadm token delete ***'"
    assert Command(command, "--v=5").masked == "kubeadm token delete *** --v=5"
    assert redact(f"bad token {TOKEN}", [TOKEN, ""]) == "bad token ***"
    for bad in (None, ["a"], b"x"):
        with pytest.raises(TypeError):
            Command("echo", bad)


class NeverExits(FakeChannel):
    """A command that runs past any deadline; the line it was sent is kept."""

    def exec_command(self, command):
        self.command = command

    def exit_status_ready(self):
        return False


def test_a_command_s_error_quotes_it_masked_and_the_host_gets_it_whole(monkeypatch):
    channel = NeverExits()
    host = host_on(channel, monkeypatch)
    host._sudo_prefix = ssh.SUDO   # a sudoer without a password
    with pytest.raises(RemoteError) as err:
        host.run(Command("kubeadm", "token", "delete", Secret("abcdef")), sudo=True, timeout=0.2)
    assert str(err.value).startswith("10.9.9.9: `kubeadm token delete ***` did not finish within 0.2 s: check")
    assert "abcdef" not in str(err.value)
    assert channel.command == "sudo -n -- sh -c 'kubeadm token delete abcdef'"


def test_product_code_sends_no_command_line_written_by_hand_and_names_scripts_only_in_the_table():
    by_hand = re.compile(r"\.run\(\s*f?[\"']")
    script_name = re.compile(r"[\"'][a-z-]+\.sh[\"']")
    for path in (ROOT / "kub_plugin").rglob("*.py"):
        text = path.read_text()
        assert not by_hand.search(text), f"{path}: a command line written as text"
        if path.name != "scripts.py":
            assert set(script_name.findall(text)) <= {'"lib.sh"'}, path


def test_wait_until_returns_what_the_check_found_and_pauses_between_looks():
    looks, pauses = iter([None, None, {}]), []
    assert waiting.wait_until(lambda: next(looks), 60, 1, lambda: AssertionError("no timeout"), pauses.append) == {}
    assert len(pauses) == 2 and all(0 < left <= 60 for left in pauses)


def test_wait_until_raises_after_the_deadline_with_a_last_look(monkeypatch):
    looks, slept = [], []
    clock = type("Clock", (), {"sleep": staticmethod(slept.append), "monotonic": staticmethod(lambda: 0)})
    monkeypatch.setattr(waiting, "time", clock)
    with pytest.raises(socket.timeout, match="gone"):
        waiting.wait_until(lambda: looks.append(1), 0, 5, lambda: socket.timeout("gone"))
    assert looks == [1] and slept == []
    clock.monotonic = staticmethod(iter([0, 0, 0.25, 1.5]).__next__)
    with pytest.raises(socket.timeout):
        waiting.wait_until(lambda: looks.append(1), 1, 5, lambda: socket.timeout("gone"))
    assert looks == [1] * 4 and slept == [1, 0.75]   # never past the deadline
