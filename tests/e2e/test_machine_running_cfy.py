"""What kub reads and writes on the machine running cfy, through the real cfy CLI: a kubeconfig kub did not write
is never overwritten or removed, the CNI manifest comes only from sources a blueprint may name, and what the
blueprint itself can refuse, cfy refuses before any host is touched."""
import json
import os
import stat

import pytest
from e2e_support import SPARE, assert_refused, cluster_inputs, files_changed, host_files, host_state

from kub_lab.cfy import PROJECT

pytestmark = pytest.mark.lab
A, B = SPARE
THEIRS = """apiVersion: v1
kind: Config
clusters:
- {name: work, cluster: {server: 'https://k8s.work.example:6443'}}
users:
- {name: me, user: {token: their-own-token}}
contexts:
- {name: work, context: {cluster: work, user: me}}
current-context: work
"""


@pytest.fixture(scope="module", autouse=True)
def spare_hosts_fresh(lab):
    yield
    for i in SPARE:
        lab.wipe(i)


def _file(path):
    st = os.lstat(path)
    return open(path, "rb").read(), stat.S_IMODE(st.st_mode)


def test_a_kubeconfig_kub_did_not_write_is_kept_and_one_it_wrote_then_edited_is_left(lab, new_cfy, tmp_path):
    """local_kubeconfig_path names the user's kubeconfig with other contexts: kub writes its own beside it and
    says so; the user then edits kub's file, and uninstall leaves it (saying so) and the user's as they were."""
    users = tmp_path / "kube" / "config"
    users.parent.mkdir()
    users.write_text(THEIRS)
    os.chmod(users, 0o640)
    before = _file(users)
    cfy = new_cfy()
    cfy.init(cluster_inputs(lab, master=A, minions=(), local_kubeconfig_path=str(users)))
    out = cfy.install().stdout
    beside = f"{users}.kub-{cfy.blueprint_id}"
    assert (f"local_kubeconfig_path {users} is a file kub did not write: left as it is; the admin kubeconfig goes "
            f"beside it, to {beside}") in out
    assert _file(users) == before
    assert cfy.outputs()["kubeconfig_path"] == beside
    text, mode = _file(beside)
    assert mode == 0o600 and f"server: https://{lab.host_ip(A)}:6443".encode() in text
    # what kub recorded of it: the checksum, never the content
    props = next(i for i in cfy.node_instances() if i["node_id"] == "master")["runtime_properties"]
    assert props["kubeconfig_path"] == beside and len(props["kubeconfig_sha256"]) == 64
    assert "client-key-data" not in json.dumps(props)
    # from fresh cfy state (no record), kub knows its own file by its content: nothing is written again
    cfy.init(cluster_inputs(lab, master=A, minions=(), local_kubeconfig_path=str(users),
                            cluster_id=cfy.outputs()["cluster_id"]))
    again = cfy.install().stdout
    assert f"the admin kubeconfig goes beside it, to {beside}" in again
    assert "admin kubeconfig written" not in again and _file(users) == before and _file(beside) == (text, mode)
    with open(beside, "ab") as f:
        f.write(b"# my notes\n")
    edited = _file(beside)
    out = cfy.uninstall().stdout
    assert (f"left the local kubeconfig {beside} as it is: it changed since kub wrote it (edited by hand?); remove it "
            f"yourself if it is not needed") in out
    assert _file(beside) == edited and _file(users) == before


def test_a_cni_manifest_that_is_another_deployments_kubeconfig_is_refused_with_nothing_uploaded(lab, new_cfy,
                                                                                                tmp_path):
    other = tmp_path / "other-deployment" / "admin.conf"
    other.parent.mkdir()
    other.write_text(THEIRS)
    before = {i: host_files(lab, i) for i in (A,)}
    cfy = assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=(), cni_manifest=str(other)),
                         f"bad input: node master: cni_manifest {other} document 1 (Config) has no "
                         f"metadata.name", hosts=(A,))
    assert files_changed(lab, (A,), before) == {}
    # the file's content is in no message (a second try is refused the same way)
    out = cfy.install(check=False).stdout
    assert "has no metadata.name" in out and "their-own-token" not in out
    assert files_changed(lab, (A,), before) == {}


def test_a_link_local_cni_manifest_url_is_refused_with_nothing_uploaded(lab, new_cfy):
    url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    before = {i: host_files(lab, i) for i in (A,)}
    assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=(), cni_manifest=url),
                   f"bad input: cni_manifest {url} is not fetched: 169.254.169.254 resolves to "
                   f"169.254.169.254, a link-local address (loopback, link-local and cloud metadata addresses are "
                   f"refused)", hosts=(A,))
    assert files_changed(lab, (A,), before) == {}


def test_plain_http_is_refused_unless_allowed(lab, new_cfy):
    inputs = cluster_inputs(lab, master=A, minions=(), allow_plain_http=False)
    assert_refused(lab, new_cfy, inputs, f"bad input: package_repository_url "
                                         f"'{inputs['package_repository_url']}' is plain http, which anyone on the "
                                         f"way can change: use https, or set allow_plain_http: true",
                   hosts=(A,))


# -- refused by cfy itself, from the blueprint's constraints, required properties and parameter types ----------

def test_an_unsupported_minor_is_refused_by_cfy_at_init(lab, new_cfy):
    before = host_state(lab, A)
    result = new_cfy().init(cluster_inputs(lab, master=A, minions=(), kubernetes_version="1.40"), check=False)
    assert result.returncode != 0
    assert ("Value 1.40 of input kubernetes_version violates constraint valid_values(1.35, 1.36, 1.37) operator."
            in result.stdout)
    assert host_state(lab, A) == before


def test_a_master_without_ip_is_refused_by_cfy_at_init(lab, new_cfy, tmp_path):
    blueprint = tmp_path / "no-ip.yaml"
    text = (PROJECT / "barevm-blueprint.yaml").read_text()
    assert "      ip: { get_input: master_ip }\n" in text
    blueprint.write_text(text.replace("      ip: { get_input: master_ip }\n", ""))
    before = host_state(lab, A)
    result = new_cfy(blueprint).init(cluster_inputs(lab, master=A, minions=()), check=False)
    assert result.returncode != 0
    assert "'master' node does not provide a value for mandatory 'ip' property" in result.stdout
    assert host_state(lab, A) == before


@pytest.mark.parametrize("workflow,params,message", [
    ("kub_scale", {"name": "web", "replicas": "three"}, 'Parameter "replicas" must be of type integer'),
    ("kub_expose", {"name": "web", "port": "http"}, 'Parameter "port" must be of type integer'),
    ("kub_scale", {"name": "web"}, 'Workflow "kub_scale" must be provided with the following parameters to '
                                   'execute: replicas'),
])
def test_a_workflow_parameter_of_the_wrong_type_is_refused_by_cfy(lab, new_cfy, workflow, params, message):
    cfy = new_cfy()
    cfy.init(cluster_inputs(lab, master=A, minions=()))
    before = host_state(lab, A)
    result = cfy.execute(workflow, params, check=False, options=())
    assert result.returncode != 0
    assert message in result.stdout
    assert f"Starting '{workflow}' workflow execution" not in result.stdout
    assert host_state(lab, A) == before
