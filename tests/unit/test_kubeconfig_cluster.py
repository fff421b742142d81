"""kub.nodes.ExistingCluster given by its kubeconfig alone: its settings (each bad one a line that never quotes the
kubeconfig), kubectl's download and check, and the machine running cfy as the place kubectl steps run.

The downloads come from a dl.k8s.io-shaped tree of files (file:// URLs); its "kubectl" is a small bash stand-in
that answers `version -o json` and prints what it was asked (the lab's e2e tests run the real one)."""
import hashlib
import logging
import os
import stat

import pytest
import yaml

from kub_plugin.cfy import control_planes
from kub_plugin.cluster import existing, kubeconfig_access
from kub_plugin.errors import ConfigError
from kub_plugin.hosts import runner, scripts
from kub_plugin.hosts.commands import Command
from kub_plugin.hosts.plan import Plan
from kub_plugin.hosts.runner import StepError
from kub_plugin.local import kubectl_release, places
from kub_plugin.local.host import LocalHost
from kub_plugin.workloads import workflow_commands

EXISTING = ["kub.nodes.ExistingCluster", "cloudify.nodes.Root"]
TOKEN = "s3cr3t-t0ken-that-must-never-show-0123456789"
KUBECONFIG = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config", "current-context": "admin@c",
    "clusters": [{"name": "c", "cluster": {"server": "https://10.9.9.9:6443", "certificate-authority-data": "Q0E="}}],
    "contexts": [{"name": "admin@c", "context": {"cluster": "c", "user": "admin"}}],
    "users": [{"name": "admin", "user": {"token": TOKEN}}]})
URL = "https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubectl"
# the stand-in kubectl: the server's version (KUB_TEST_SERVER, v1.36.3 by default), and what it was asked
FAKE_KUBECTL = """#!/bin/bash
if [ "$*" != "${*#*version}" ]; then
  echo '{"clientVersion": {"gitVersion": "v0"}, "serverVersion": {"gitVersion": "'"${KUB_TEST_SERVER-v1.36.3}"'"}}'
  exit 0
fi
if [ "${KUB_TEST_FAIL:-}" = yes ]; then
  echo "error: Unauthorized (token $(grep -o 's3cr3t[^\\"]*' kubeconfig))" >&2; exit 1
fi
echo "asked: $*"
echo "in: $(pwd)"
echo "kubeconfig: $(stat -c %a kubeconfig 2>/dev/null)"
[ -t 0 ] || sed 's/^/stdin: /'
"""


@pytest.fixture(autouse=True)
def kub_dir(tmp_path, monkeypatch):
    folder = tmp_path / "kub"
    monkeypatch.setenv(places.LOCAL_DIR_VARIABLE, str(folder))
    return folder


def props(**values):
    return {"kubeconfig": KUBECONFIG, **values}


# -- settings ------------------------------------------------------------------------------------------

BAD_SETTINGS = [
    (props(ip="10.0.0.1"), "node cluster: ip and kubeconfig are given together: set either ip (and ssh) of a "
                           "control-plane host, or the cluster's kubeconfig"),
    (props(kubeconfig_file="/x"), "node cluster: kubeconfig and kubeconfig_file are given together"),
    ({"kubeconfig": "", "kubeconfig_file": ""}, "node cluster: neither ip nor kubeconfig nor kubeconfig_file"),
    (props(kubeconfig_path="/root/.kube/config"), "node cluster: kubeconfig_path names a file on a control-plane "
                                                  "host, which the kubeconfig form does not log in to: leave "
                                                  "kubeconfig_path out"),
    (props(kubeconfig=KUBECONFIG.replace("current-context: admin@c", "current-context: other")),
     "node cluster: kubeconfig has no current-context among its contexts: set current-context to the context kub "
     "is to use (kubectl config use-context)"),
    (props(kubeconfig=f"users: [{{token: {TOKEN}]\n"),
     "node cluster: kubeconfig is not valid YAML at line 1, column 61: give the cluster's kubeconfig (kubectl config "
     "view --raw --minify prints one)"),
    (props(kubeconfig=f"token {TOKEN}"), "node cluster: kubeconfig is not a kubeconfig (kind: Config)"),
    (props(kubeconfig=KUBECONFIG.replace("https://10.9.9.9:6443", "10.9.9.9")),
     "node cluster: kubeconfig: the cluster of context admin@c has no server URL (https://host:port)"),
    (props(kubeconfig_file="/nonexistent/config", kubeconfig=""),
     "node cluster: kubeconfig_file /nonexistent/config cannot be read on the machine running cfy (No such file or "
     "directory): give the path of the cluster's kubeconfig there"),
    (props(kubectl_url="http://mirror/release/v{version}/bin/linux/{arch}/kubectl"),
     "node cluster: kubectl_url 'http://mirror/release/v{version}/bin/linux/{arch}/kubectl' is plain http, which "
     "anyone on the way can change: use https, or set allow_plain_http: true"),
    (props(kubectl_url="https://mirror/kubectl-{version}"),
     "node cluster: kubectl_url 'https://mirror/kubectl-{version}' must be an http(s) URL laid out like "
     "dl.k8s.io's, .../v{version}/..."),
    (props(kubectl_url="https://mirror/v{version}/{os}/kubectl"), "node cluster: kubectl_url "
                                                                    "'https://mirror/v{version}/{os}/kubectl': only "
                                                                    "{version} and {arch} may stand in braces"),
    (props(allow_plain_http="yes"), "node cluster: allow_plain_http 'yes' is not true or false"),
]


@pytest.mark.parametrize("given, expected", BAD_SETTINGS, ids=[e[:70] for _, e in BAD_SETTINGS])
def test_bad_settings_are_one_line_that_never_quotes_the_kubeconfig(given, expected):
    with pytest.raises(ConfigError) as err:
        control_planes.control_plane("dep", "cluster", EXISTING, given, local_mode=True)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert TOKEN not in str(err.value) and "s3cr3t" not in str(err.value)


def test_the_kubeconfig_form_runs_kubectl_here_under_a_lock_of_kubs_own(kub_dir):
    cluster = control_planes.control_plane("dep", "cluster", EXISTING, props(allow_plain_http=True))
    assert cluster.ssh is None and cluster.where == "https://10.9.9.9:6443"
    assert cluster.kubeconfig == "kubeconfig"   # written into the operation's private folder, its commands' own
    assert os.path.dirname(cluster.lock) == str(kub_dir / "locks") and cluster.allow_plain_http
    assert cluster.access.kubectl_url == URL
    # the same API server, the same lock, whichever deployment
    assert control_planes.control_plane("other", "c2", EXISTING, props()).lock == cluster.lock
    assert TOKEN not in repr(cluster) and TOKEN not in repr(cluster.access)


def test_a_kubeconfig_given_as_a_mapping_is_taken_as_its_text():
    cluster = control_planes.control_plane("dep", "cluster", EXISTING, {"kubeconfig": yaml.safe_load(KUBECONFIG)})
    assert cluster.where == "https://10.9.9.9:6443"
    assert yaml.safe_load(cluster.access.text) == yaml.safe_load(KUBECONFIG)


def test_a_kubeconfig_file_is_used_where_it_is(tmp_path):
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    cluster = control_planes.control_plane("dep", "cluster", EXISTING, {"kubeconfig_file": str(path)},
                                           local_mode=True)
    assert cluster.kubeconfig == str(path) and cluster.access.described == f"kubeconfig_file {path}"
    # on a manager, a file of its worker: refused, whatever it holds
    with pytest.raises(ConfigError) as err:
        control_planes.control_plane("dep", "cluster", EXISTING, {"kubeconfig_file": str(path)})
    assert str(err.value) == (f"node cluster: kubeconfig_file {path} names a file of the Cloudify Manager's worker, "
                              f"which a blueprint may not read: give the kubeconfig's content as kubeconfig, from a "
                              f"secret (get_secret)")


def test_the_ssh_form_is_unchanged():
    cluster = control_planes.control_plane("dep", "cluster", EXISTING,
                                           {"ip": "10.0.0.1", "ssh": {"private_key_path": "/k"}})
    assert (cluster.access, cluster.where, cluster.kubeconfig) == (None, "10.0.0.1", "/etc/kubernetes/admin.conf")


def test_plugin_yaml_documents_both_forms():
    from pathlib import Path
    plugin = yaml.safe_load((Path(__file__).parents[2] / "plugin.yaml").read_text())
    found = plugin["node_types"]["kub.nodes.ExistingCluster"]["properties"]
    assert found["ip"]["default"] == "" and found["kubeconfig"]["default"] == found["kubeconfig_file"]["default"] == ""
    assert found["kubectl_url"]["default"] == kubeconfig_access.DEFAULT_KUBECTL_URL == URL


# -- kubectl's download ----------------------------------------------------------------------------------

def release_tree(root, releases, stable=None, digest=None):
    """A dl.k8s.io-shaped tree: the stand-in kubectl at each release, its .sha256 (`digest`, else its own), and
    stable-<minor>.txt for each minor (its newest release, or `stable`)."""
    base = root / "release"
    for release in releases:
        folder = base / f"v{release}" / "bin" / "linux" / "amd64"
        folder.mkdir(parents=True)
        (folder / "kubectl").write_text(FAKE_KUBECTL)
        (folder / "kubectl.sha256").write_text(digest or hashlib.sha256(FAKE_KUBECTL.encode()).hexdigest())
        minor = release.rsplit(".", 1)[0]
        (base / f"stable-{minor}.txt").write_text(f"v{stable or release}")
    return f"file://{base}/v{{version}}/bin/linux/{{arch}}/kubectl"


def test_a_kubectl_is_downloaded_checked_and_kept(tmp_path, kub_dir):
    url = release_tree(tmp_path, ["1.36.3"])
    logged = []
    path = kubectl_release.ensure(url, "1.36.3", "amd64", logged.append)
    assert path == str(kub_dir / "kubectl" / "v1.36.3-amd64" / "kubectl")
    assert open(path).read() == FAKE_KUBECTL and stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert logged == [f"kubectl v1.36.3 (linux/amd64): downloaded from {url.format(version='1.36.3', arch='amd64')}, "
                      f"its sha256 checked, kept in {os.path.dirname(path)}"]
    assert kubectl_release.kept_releases("amd64") == ["1.36.3"]
    # kept: not downloaded again; changed since: not used
    assert kubectl_release.ensure(url, "1.36.3", "amd64", logged.append) == path and len(logged) == 1
    with open(path, "a") as f:
        f.write("# changed\n")
    assert kubectl_release.kept_path("1.36.3", "amd64") is None


def test_a_kubectl_whose_sha256_is_not_the_published_one_is_refused(tmp_path, kub_dir):
    from kub_plugin.local import downloads
    downloads._cache.clear()
    url = release_tree(tmp_path, ["1.36.4"], digest="0" * 64)
    with pytest.raises(ConfigError) as err:
        kubectl_release.ensure(url, "1.36.4", "amd64", print)
    binary = url.format(version="1.36.4", arch="amd64")
    assert str(err.value) == (f"{binary}: its sha256 {hashlib.sha256(FAKE_KUBECTL.encode()).hexdigest()} is not the "
                              f"{'0' * 64} that {binary}.sha256 publishes: the download is damaged or not the release; "
                              f"check the mirror, then run it again")
    assert kubectl_release.kept_releases("amd64") == []


def test_releases_and_the_stable_file_beside_them():
    assert kubectl_release.release_of("v1.36.2-eks-1a2b3c") == "1.36.2"
    assert kubectl_release.release_of("v1.31.9+k3s1") == "1.31.9" and kubectl_release.release_of("dev") is None
    assert kubectl_release.stable_url(URL, "1.37") == "https://dl.k8s.io/release/stable-1.37.txt"


# -- the machine running cfy as a host -------------------------------------------------------------------

def access(url, text=KUBECONFIG):
    return kubeconfig_access.KubeconfigAccess("cluster", "https://10.9.9.9:6443", url, text)


def test_kubectl_of_the_servers_release_runs_here_with_the_kubeconfig_in_a_private_folder(tmp_path, kub_dir):
    from kub_plugin.local import downloads
    downloads._cache.clear()
    url = release_tree(tmp_path, ["1.36.3", "1.37.1"])
    logger = logging.getLogger("test")
    with LocalHost(access(url), logger) as host:
        # nothing kept: the newest supported minor's newest patch asked the server, then the server's own
        assert host.server_release == "1.36.3" and sorted(kubectl_release.kept_releases("amd64")) == ["1.36.3",
                                                                                                       "1.37.1"]
        private = host._dir
        result = host.run(Command("kubectl", "--kubeconfig", host.kubeconfig, "get", "nodes"), sudo=True)
        assert result.ok and result.stdout.splitlines()[:3] == [
            "asked: --kubeconfig kubeconfig get nodes", f"in: {private}", "kubeconfig: 600"]
        assert os.path.dirname(private) == str(kub_dir / "run") and stat.S_IMODE(os.stat(private).st_mode) == 0o700
        # a script of scripts/, its changes told, under a lock file in kub's folder
        lock = str(kub_dir / "locks" / "x.lock")
        change = scripts.KUBECTL_CHANGE.call(kubeconfig=host.kubeconfig, args="scale\ndeployment/web", stdin="")
        assert runner.apply(host, "kubectl scale", change, lock=lock) == [
            "asked: --kubeconfig kubeconfig scale deployment/web", f"in: {private}", "kubeconfig: 600"]
        assert os.path.exists(lock)
        # uploads stay in the private folder
        host.upload(b"data", "/var/lib/kub/x.bin")
        assert open(os.path.join(private, "var/lib/kub/x.bin"), "rb").read() == b"data"
    assert not os.path.exists(private)
    # the kept kubectl of the server's release is used at once next time: nothing downloaded
    with LocalHost(access("file:///nowhere/v{version}/bin/linux/{arch}/kubectl"), logger) as host:
        assert host.server_release == "1.36.3"


def test_a_plan_runs_scripts_as_dry_runs_here(tmp_path, kub_dir):
    url = release_tree(tmp_path, ["1.36.3", "1.37.1"])
    plan = Plan(["https://10.9.9.9:6443"])
    with LocalHost(access(url), logging.getLogger("test"), plan) as host:
        kubectl = workflow_commands.Kubectl(host, control_planes.ControlPlane(None, host.kubeconfig, "c",
                                                                              lock=str(kub_dir / "l.lock")))
        workflow_commands.uncordon(kubectl, ["n1"])
    assert plan.changes("https://10.9.9.9:6443")[0] == \
        "asked: --kubeconfig kubeconfig uncordon n1 --dry-run=server"
    assert not os.path.exists(kub_dir / "l.lock")   # a dry run leaves no lock behind


def test_a_failure_here_is_one_line_naming_the_api_server_without_the_credentials(tmp_path, monkeypatch):
    url = release_tree(tmp_path, ["1.36.3", "1.37.1"])
    monkeypatch.setenv("KUB_TEST_FAIL", "yes")
    with LocalHost(access(url), logging.getLogger("test")) as host:
        with pytest.raises(StepError) as err:
            existing.cluster_view(host, host.kubeconfig, host.access.described)
    assert str(err.value).startswith("https://10.9.9.9:6443: the kubeconfig property is not a usable kubeconfig "
                                     "(Unauthorized (token ***)): give the cluster's admin kubeconfig")
    assert TOKEN not in str(err.value)


def test_a_server_that_does_not_answer_is_one_line(tmp_path, monkeypatch):
    url = release_tree(tmp_path, ["1.36.3", "1.37.1"])
    monkeypatch.setenv("KUB_TEST_SERVER", "")
    with pytest.raises(StepError) as err:
        with LocalHost(access(url), logging.getLogger("test")):
            pass
    assert str(err.value).startswith("https://10.9.9.9:6443: the API server does not answer kubectl on the machine "
                                     "running cfy through the kubeconfig property (")
    assert os.listdir(places.kub_dir("run")) == []   # the private folder went with the failure
