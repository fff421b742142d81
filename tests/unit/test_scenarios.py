"""Steps as data. data/facts/<os>/<state>.txt is what scripts/facts.sh printed on a host in that state
(lab/kub_lab/capture_facts.py). Each data/scenarios/*.yaml names such a host, the cluster's settings as node
properties and the host's role, and says what kub does there: its refusal, or the scripts its steps run with the
variables that matter. Adding a case is adding a file."""
import base64
import re
from pathlib import Path

import pytest
import yaml

from kub_plugin.cluster import checks, init, join, preflight, prepare, properties
from kub_plugin.cluster.settings import DEFAULT_CRI_SOCKET, ClusterSettings, SshSettings
from kub_plugin.hosts import facts as host_facts
from kub_plugin.hosts import state
from kub_plugin.hosts.plan import Plan
from kub_plugin.hosts.ssh import Result

DATA = Path(__file__).parent / "data"
SCENARIOS = sorted((DATA / "scenarios").glob("*.yaml"))
FIXTURES = sorted((DATA / "facts").glob("*/*.txt"))
# What a scenario file says (a misspelt key fails rather than being left out): `facts`, the fixture (<os>/<state>),
# and `edit`, lines of it changed for the case; `role`, master or minion; `owner`, the mark this deployment writes
# (`<cluster id> <deployment>/<master node>`); `properties`, the master node's (its `cluster` settings); for a
# minion, `master`, the fixture of the master it joins, and `registered`, the node names that master's cluster
# has; `plan: true` for a kub_plan run. `expect`: `refused`, the message after the host's address; or `scripts`,
# in order, each with the variables that matter (a mapping: files as `path base64` lines, by path), `kubeadm`, fields
# of the kubeadm configuration by kind,
# `logged`, lines the host logs, and `uploads` (none unless named).
CASE_KEYS = {"facts", "edit", "role", "owner", "properties", "master", "registered", "plan", "expect"}
EXPECT_KEYS = {"refused", "scripts", "kubeadm", "logged", "uploads"}
HOST_IP, MASTER_IP = "10.9.9.9", "10.9.9.1"
JOIN_TOKEN = "abcdef.0123456789abcdef"
TOKEN = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")
# the newest packages of each minor in the repository (what a first install pins on every host)
REPOSITORY = {minor: {"kubeadm": f"{patch}-1.1", "kubelet": f"{patch}-1.1", "kubectl": f"{patch}-1.1",
                      "cri-tools": f"{minor}.0-1.1", "kubernetes-cni": f"{cni}-1.1"}
              for minor, patch, cni in (("1.35", "1.35.2", "1.7.1"), ("1.36", "1.36.3", "1.8.0"),
                                        ("1.37", "1.37.1", "1.8.0"))}
# sha256 of the containerd 2.1.9 tarball and runc 1.1.5 the lab serves, and of containerd's unit (the record of
# them is in the captured prepared, master and minion hosts)
LAB_SUMS = {"containerd": "1a4eb67310b8d366097d49b8ee7cf744d767947864ccdea9f0d7f3d82efc674d",
            "runc": "9a87d5bcdd630ec420ec56a6c21b70aa6960edcefe1cf4bb181cee290bdd6b98",
            "unit": "1941362cbaa89dd591b99c32b050d82c583d3cd2e5fa63085d7017457ec5fca8"}


def facts_output(name, edit=None):
    """A fixture as facts.sh printed it (its comment header left out), with `edit`'s lines ({key: value, or None
    to drop the line}) in place of the captured ones."""
    lines = [line for line in (DATA / "facts" / f"{name}.txt").read_text().splitlines() if not line.startswith("#")]
    edit = dict(edit or {})
    out = []
    for line in lines:
        key = line.split("=", 1)[0]
        if key not in edit:
            out.append(line)
        elif edit[key] is not None:
            out.append(f"{key}={edit.pop(key)}")
    out += [f"{key}={value}" for key, value in edit.items() if value is not None]
    return "\n".join(out) + "\n"


class ScenarioHost:
    """A host that answers facts.sh with a fixture, `kubeadm version` with the installed kubeadm's, and every other
    command with success; it records what runs, what is uploaded and what is logged."""

    def __init__(self, facts_text, kubeadm_version, plan=None):
        self.ip, self.plan = HOST_IP, plan
        self.settings = SshSettings(ip=HOST_IP, private_key_path="/k")
        self.facts_text, self.kubeadm_version = facts_text, kubeadm_version
        self.scripts, self.commands, self.uploads, self.logged = [], [], [], []

    def log(self, message):
        self.logged.append(message)

    def run_script(self, name, env=None, secret_env=None, timeout=None, lock=None):
        self.scripts.append((name, env or {}, secret_env or {}))
        return Result(self.facts_text if name == "facts.sh" else "", "", 0)

    def run(self, command, stdin="", sudo=False, timeout=None):
        self.commands.append(command)
        text = getattr(command, "text", command)   # a hosts.commands.Command: what the host is sent
        return Result(f"{self.kubeadm_version}\n" if text.startswith("kubeadm version") else "", "", 0)

    def upload(self, data, path):
        self.uploads.append(path)
        return Result("", "", 0)


class LabRelease:
    """containerd's release files as the lab serves them (local.containerd.ContainerdRelease's record and sums)."""
    tarball, runc, unit = b"tarball", b"runc", b"[Service]"

    def __init__(self, settings):
        self.record = " ".join([f"containerd={settings.containerd_version}", LAB_SUMS["containerd"],
                                f"runc={settings.runc_version}", LAB_SUMS["runc"], "unit", LAB_SUMS["unit"]])

    def sums(self):
        return {"KUB_TARBALL_SHA256": LAB_SUMS["containerd"], "KUB_RUNC_SHA256": LAB_SUMS["runc"],
                "KUB_UNIT_SHA256": LAB_SUMS["unit"]}


def package_versions(settings, facts):
    """What the install pins: a running cluster's own packages, else the repository's newest."""
    wanted = REPOSITORY[settings.kubernetes_version]
    return ({p: facts.packages[p] for p in wanted} if facts.recorded and set(wanted) <= set(facts.packages)
            else wanted)


def run_steps(case, host, settings):
    """What an install does on the host: its facts read and checked, then prepare, then kubeadm init or join."""
    mark = case["owner"]
    cluster_id = mark.split(" ", 1)[0]
    facts, profile = preflight.checked(host, case["role"], cluster_id, settings)
    release = LabRelease(settings) if settings.containerd_source == "release" else None
    prepare.prepare(host, facts, profile, settings, (cluster_id, mark), "KEY", package_versions(settings, facts),
                    release)
    if case["role"] == "master":
        init.init_master(host, facts, settings, cluster_id)
        return
    master = host_facts.parse(facts_output(case["master"]))
    registered = {name: ("True", f"10.9.9.{n}") for n, name in enumerate(case.get("registered", []), 1)}
    join.join(host, facts, settings, join.JoinTarget(MASTER_IP + ":6443", master.ca_cert_hash, registered),
              lambda: JOIN_TOKEN)


def files(value):
    """{path: content} of a variable that carries files, a `path base64` line each."""
    return {path: base64.b64decode(data).decode() for path, data in (line.split(" ") for line in value.splitlines())}


def contains(actual, expected):
    """Every key of `expected` (recursively) is in `actual` with the same value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    return actual == expected


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path):
    case = yaml.safe_load(path.read_text())
    assert set(case) <= CASE_KEYS and set(case["expect"]) <= EXPECT_KEYS
    assert ("refused" in case["expect"]) != ("scripts" in case["expect"])
    settings = properties.cluster_settings(case["properties"])
    facts_text = facts_output(case["facts"], case.get("edit"))
    kubeadm_version = "v" + package_versions(settings, host_facts.parse(facts_text))["kubeadm"].split("-")[0]
    host = ScenarioHost(facts_text, kubeadm_version, Plan([HOST_IP]) if case.get("plan") else None)
    expect = case["expect"]
    if "refused" in expect:
        with pytest.raises(checks.HostRefused) as err:
            run_steps(case, host, settings)
        assert str(err.value) == f"{HOST_IP}: {expect['refused']}"
        # refused before anything changed: only the facts were read
        assert [name for name, _, _ in host.scripts] == ["facts.sh"] and not host.uploads
        return
    run_steps(case, host, settings)
    assert host.scripts[0] == ("facts.sh", state.SCRIPT_ENV, {})
    ran = host.scripts[1:]
    assert [name for name, _, _ in ran] == [next(iter(step)) for step in expect["scripts"]]
    for (name, env, _), step in zip(ran, expect["scripts"]):
        wanted = step[name] or {}
        assert {k: files(env.get(k)) if isinstance(v, dict) else env.get(k) for k, v in wanted.items()} == wanted, name
    for kind, fields in expect.get("kubeadm", {}).items():
        documents = [doc for _, _, secret in ran for text in secret.values() for doc in yaml.safe_load_all(text)]
        assert contains({doc["kind"]: doc for doc in documents}.get(kind), fields), kind
    for line in expect.get("logged", []):
        assert line in host.logged
    assert host.uploads == expect.get("uploads", [])
    # bootstrap tokens travel only as secrets: never in a script's variables or a logged line
    tokens = {t for _, _, secret in ran for text in secret.values() for t in TOKEN.findall(text)}
    assert not [t for t in tokens for _, env, _ in ran if t in str(env)]
    assert not [t for t in tokens for line in host.logged if t in line]


# what facts.parse reads from each fixture, by the state the host was in
STATES = {
    "fresh": {"node_name": "kubh3", "owner_name": "", "initialised": False, "joined": False, "recorded": False,
              "packages": False, "containerd_release": False, "ca_cert": False},
    "prepared": {"node_name": "kubh3", "owner_name": "prepared/master", "initialised": False, "joined": False,
                 "recorded": False, "packages": True, "containerd_release": True, "ca_cert": False},
    "master": {"node_name": "kubh1", "owner_name": "cluster/master", "initialised": True, "joined": True,
               "recorded": True, "packages": True, "containerd_release": True, "ca_cert": True},
    "minion": {"node_name": "kubh2", "owner_name": "cluster/master", "initialised": False, "joined": True,
               "recorded": True, "packages": True, "containerd_release": True, "ca_cert": True},
}


@pytest.mark.parametrize("path", FIXTURES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURES])
def test_fixture_facts(path):
    facts = host_facts.parse(facts_output(f"{path.parent.name}/{path.stem}"))
    os_id, os_version = path.parent.name.split("-")
    want = STATES[path.stem]
    assert (facts.os_id, facts.os_version, facts.arch) == (os_id, os_version, "x86_64")
    assert facts.node_name == want["node_name"] and facts.cgroup_v1   # the lab's hosts are cgroup v1
    assert facts.owner_name == want["owner_name"]
    assert re.fullmatch(r"[0-9a-f-]{36}", facts.owner_id) if want["owner_name"] else not facts.owner
    assert (facts.initialised, facts.joined) == (want["initialised"], want["joined"])
    assert facts.has_admin_conf == (path.stem == "master")
    assert bool(facts.recorded) == want["recorded"]
    if want["recorded"]:
        assert facts.recorded == {"kubernetes_version": "1.36", "pod_network_cidr": "10.244.0.0/16",
                                  "service_cidr": "10.96.0.0/12", "cri_socket": DEFAULT_CRI_SOCKET}
    assert facts.packages == (REPOSITORY["1.36"] if want["packages"] else {})
    lab_release = LabRelease(ClusterSettings(containerd_version="2.1.9", runc_version="1.1.5"))
    assert facts.containerd_release == (lab_release.record if want["containerd_release"] else "")
    assert 22 in facts.listening
    assert set(state.REQUIRED_PORTS.get(path.stem, ())) <= facts.listening
    if want["ca_cert"]:
        assert facts.ca_cert_pem.startswith("-----BEGIN CERTIFICATE-----")
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", facts.ca_cert_hash)
    else:
        assert facts.ca_cert_pem == "" and facts.ca_cert_hash == ""


@pytest.mark.parametrize("os_name", sorted({p.parent.name for p in FIXTURES}))
def test_a_master_and_its_minion_share_their_cluster(os_name):
    master, minion = (host_facts.parse(facts_output(f"{os_name}/{role}")) for role in ("master", "minion"))
    assert master.owner == minion.owner and master.ca_cert_hash == minion.ca_cert_hash
    assert master.recorded == minion.recorded


def test_every_os_has_scenarios():
    cases = [yaml.safe_load(path.read_text()) for path in SCENARIOS]
    assert {case["facts"].split("/")[0] for case in cases} == {p.parent.name for p in FIXTURES}


def test_derived_fixtures_differ_from_their_capture_only_in_the_os():
    for path in FIXTURES:
        header = path.read_text().splitlines()[0]
        assert header.startswith("# captured ") or header.startswith("# derived, not captured: debian-12/"), path
        if header.startswith("# derived"):
            captured = facts_output(f"debian-12/{path.stem}").splitlines()
            derived = facts_output(f"{path.parent.name}/{path.stem}").splitlines()
            assert [(a, b) for a, b in zip(captured, derived) if a != b] == [
                ("os_id=debian", "os_id=ubuntu"), ("os_version=12", f"os_version={path.parent.name.split('-')[1]}")]
            assert len(captured) == len(derived)
