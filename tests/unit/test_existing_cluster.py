"""kub.nodes.ExistingCluster without hosts: its inputs, and how it reads a cluster (kubectl answers in, one-line
verdicts out). Each bad input names the host (when it has one), the problem and the fix."""
import json
from pathlib import Path

import pytest
import yaml
from test_steps import FakeHost

from kub_plugin.cfy import control_planes
from kub_plugin.cluster import existing
from kub_plugin.errors import ConfigError
from kub_plugin.hosts import state
from kub_plugin.hosts.runner import StepError
from kub_plugin.hosts.ssh import Result
from kub_plugin.workloads import model, steps

ROOT = Path(__file__).resolve().parents[2]
EXISTING = ["kub.nodes.ExistingCluster", "cloudify.nodes.Root"]
SSH = {"private_key_path": "/k"}

BAD_INPUTS = [
    ({"ssh": SSH}, "node cluster: neither ip nor kubeconfig nor kubeconfig_file: set either ip (and ssh) of a "
                   "control-plane host, or the cluster's kubeconfig: kubeconfig (its content; on a manager "
                   "{get_secret: <name>}) or kubeconfig_file (its path on the machine running cfy)"),
    ({"ip": "", "ssh": SSH}, "node cluster: neither ip nor kubeconfig nor kubeconfig_file"),
    ({"ip": "10.0.0.300", "ssh": SSH}, "'10.0.0.300': not an IP address: set ip to the host's IPv4 or IPv6 address"),
    ({"ip": "10.0.0.1", "ssh": {}}, "10.0.0.1: no SSH credential: set ssh.private_key_path"),
    ({"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": "admin.conf"},
     "10.0.0.1: node cluster: kubeconfig_path 'admin.conf' must be the absolute path of a file on the control-plane "
     "host, without spaces, quotes or shell characters, e.g. /etc/kubernetes/admin.conf"),
    ({"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": ""}, "kubeconfig_path '' must be the absolute path"),
    ({"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": "/etc/kubernetes/"}, "must be the absolute path of a file"),
    ({"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": "/root/my config"}, "kubeconfig_path '/root/my config'"),
    ({"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": "/x;reboot"}, "kubeconfig_path '/x;reboot'"),
    ({"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": "/x/$(id)"}, "kubeconfig_path '/x/$(id)'"),
    ({"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": "~/.kube/config"}, "kubeconfig_path '~/.kube/config'"),
    ({"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": 3}, "kubeconfig_path 3 must be the absolute path"),
]


@pytest.mark.parametrize("props, expected", BAD_INPUTS, ids=[str(p) for p, _ in BAD_INPUTS])
def test_bad_inputs(props, expected, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(ConfigError) as err:
        control_planes.control_plane("dep", "cluster", EXISTING, props)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_its_control_plane_locks_on_its_kubeconfig_a_masters_on_kubs_host_lock():
    existing = control_planes.control_plane("dep", "cluster", EXISTING,
                                        {"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": "/root/.kube/config"})
    assert (existing.ssh.ip, existing.kubeconfig, existing.lock) == ("10.0.0.1", "/root/.kube/config",
                                                                     "/root/.kube/config")
    default = control_planes.control_plane("dep", "cluster", EXISTING, {"ip": "10.0.0.1", "ssh": SSH})
    assert default.kubeconfig == default.lock == state.ADMIN_CONF
    master = control_planes.control_plane("dep", "m", ["kub.nodes.Master"], {"ip": "10.0.0.2", "ssh": SSH})
    assert (master.kubeconfig, master.lock) == (state.ADMIN_CONF, state.LOCK_FILE)


def test_plugin_yaml_repeats_the_default_kubeconfig_path():
    plugin = yaml.safe_load((ROOT / "plugin.yaml").read_text())
    props = plugin["node_types"]["kub.nodes.ExistingCluster"]["properties"]
    assert props["kubeconfig_path"]["default"] == state.ADMIN_CONF
    assert props["ssh"]["type"] == "kub.datatypes.Ssh"


KUBECONFIG = "/etc/kubernetes/admin.conf"
KUBECTL = f"kubectl --kubeconfig {KUBECONFIG} --cache-dir /dev/null "
SERVER = "https://10.9.9.9:6443"
VERSION = {"clientVersion": {"gitVersion": "v1.36.3"}, "serverVersion": {"gitVersion": "v1.36.3"}}
NODES = {"items": [
    {"metadata": {"name": "cp"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    {"metadata": {"name": "w1"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}]}
HEALTHY = {"if ": Result("", "", 0), KUBECTL + "config view": Result(SERVER, "", 0),
           KUBECTL + "version": Result(json.dumps(VERSION), "", 0),
           KUBECTL + "get nodes": Result(json.dumps(NODES), "", 0)}

BAD_CLUSTERS = [
    ({"if ": Result("no-kubectl\n", "", 0)},
     "10.9.9.9: kubectl is not installed on this control-plane host (root finds none in its PATH): install the "
     "kubectl of the cluster's Kubernetes minor there, or set ip to a control-plane host that has it"),
    ({"if ": Result("no-kubeconfig\n", "", 0)},
     "10.9.9.9: kubeconfig_path /etc/kubernetes/admin.conf is not a file on this host: set kubeconfig_path to the "
     "cluster's admin kubeconfig there (kubeadm writes /etc/kubernetes/admin.conf)"),
    ({KUBECTL + "config view": Result("", "error: current-context must exist in order to minify\n", 1)},
     "10.9.9.9: kubeconfig_path /etc/kubernetes/admin.conf is not a usable kubeconfig (current-context must exist "
     "in order to minify): point kubeconfig_path at the cluster's admin kubeconfig on this host"),
    ({KUBECTL + "config view": Result("", "", 0)}, "is not a usable kubeconfig (no server in its current context)"),
    ({KUBECTL + "version": Result(json.dumps({"clientVersion": VERSION["clientVersion"]}),
                                  "The connection to the server 10.9.9.9:6443 was refused - did you specify the right "
                                  "host or port?\n", 1)},
     "10.9.9.9: the API server https://10.9.9.9:6443 does not answer through kubeconfig_path "
     "/etc/kubernetes/admin.conf (The connection to the server 10.9.9.9:6443 was refused - did you specify the "
     "right host or port?): check that the cluster runs and that `kubectl --kubeconfig /etc/kubernetes/admin.conf "
     "get nodes` works there as root"),
    ({KUBECTL + "version": Result("", "error: You must be logged in to the server (Unauthorized)\n", 1)},
     "does not answer through kubeconfig_path /etc/kubernetes/admin.conf (You must be logged in to the server "
     "(Unauthorized))"),
    ({KUBECTL + "get nodes": Result("", "error: connection lost\n", 1)},
     "10.9.9.9: the API server does not answer: connection lost"),
]


@pytest.mark.parametrize("answers, expected", BAD_CLUSTERS, ids=[e[:60] for _, e in BAD_CLUSTERS])
def test_a_cluster_that_cannot_be_read_is_named_in_one_line(answers, expected):
    host = FakeHost({**answers, **{k: v for k, v in HEALTHY.items() if k not in answers}})
    with pytest.raises(StepError) as err:
        existing.check_kubeconfig_path(host, KUBECONFIG)
        existing.cluster_view(host, KUBECONFIG)
    assert str(err.value) == expected or (expected in str(err.value) and str(err.value).startswith("10.9.9.9: "))
    assert "\n" not in str(err.value)


def test_a_cluster_is_read_without_a_change():
    host = FakeHost(HEALTHY)
    view = existing.cluster_view(host, KUBECONFIG)
    assert view == existing.ClusterView(SERVER, "v1.36.3", {"cp": "True", "w1": "False"})
    assert host.scripts == []      # nothing run under a lock: only reads
    # every kubectl call leaves no cache behind
    assert all("--cache-dir /dev/null" in c for c in host.commands if "kubectl --kubeconfig" in c)


def test_workload_changes_run_under_the_control_planes_lock():
    host = FakeHost()
    steps.apply(host, "workload web", [], "shop", "dep/web_1", KUBECONFIG, lock=KUBECONFIG)
    steps.delete(host, "delete workload web", [(model.Ref("v1", "ConfigMap", "shop", "c"), "u1")], 60,
                 KUBECONFIG, lock=KUBECONFIG)
    assert [lock for _, _, _, lock in host.scripts] == [(KUBECONFIG, state.LOCK_WAIT_SECONDS)] * 2
    assert all(env["KUBECACHEDIR"] == "/dev/null" for _, env, _, _ in host.scripts)


def test_workflow_commands_take_the_control_planes_lock_and_keep_no_kubectl_cache():
    """kub_* workflows on a cluster kub did not install add nothing to its host either."""
    from kub_plugin.workloads import workflow_commands
    existing = control_planes.control_plane("dep", "cluster", EXISTING,
                                        {"ip": "10.0.0.1", "ssh": SSH, "kubeconfig_path": KUBECONFIG})
    host = FakeHost({"kubectl": Result("", "", 0)})
    cluster = workflow_commands.Kubectl(host, existing)
    workflow_commands.uncordon(cluster, ["kubh3"])
    workflow_commands.get(cluster, "pods", "", "default")
    assert [(name, lock) for name, _, _, lock in host.scripts] == \
        [("kubectl-change.sh", (KUBECONFIG, state.LOCK_WAIT_SECONDS))]
    assert host.scripts[0][1]["KUBECACHEDIR"] == "/dev/null"
    assert host.commands == [f"kubectl --kubeconfig {KUBECONFIG} --cache-dir /dev/null get pods -n default"]
