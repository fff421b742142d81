"""A cluster's identity: a random id made at the master's first create, kept in its runtime properties, given back
through the master's cluster_id property; the deployment and node name only name it."""
import subprocess
from pathlib import Path

import pytest

from kub_plugin.cfy import deployment
from kub_plugin.errors import ConfigError
from kub_plugin.hosts import facts as host_facts

PROPS = {"ip": "10.0.0.1", "ssh": {"private_key_path": "/k"}}
GIVEN = "5b0e2c1a-7d4f-4e8a-9c3b-2f1e0d9c8b7a"


def test_a_new_cluster_gets_a_random_id_once():
    cluster = deployment.Cluster("kub", "master", PROPS)
    assert cluster.id == "" and cluster.name == "kub/master"
    made = cluster.make_id()
    assert deployment.CLUSTER_ID_FORM.fullmatch(made) and cluster.make_id() == made
    assert cluster.mark == f"{made} kub/master"
    # two deployments of one name are two clusters
    assert deployment.Cluster("kub", "master", PROPS).make_id() != made


def test_the_id_comes_from_the_masters_runtime_properties_or_its_property():
    recorded = deployment.Cluster("kub", "master", PROPS, {deployment.CLUSTER_ID: GIVEN})
    assert recorded.id == GIVEN and recorded.make_id() == GIVEN
    given = deployment.Cluster("kub", "master", {**PROPS, "cluster_id": GIVEN}, {})
    assert given.mark == f"{GIVEN} kub/master"


def test_no_mark_without_an_id():
    with pytest.raises(ConfigError, match="master node master has no cluster id yet: run install"):
        assert deployment.Cluster("kub", "master", PROPS).mark


@pytest.mark.parametrize("bad", ["kub/master", "5B0E2C1A-7D4F-4E8A-9C3B-2F1E0D9C8B7A", f"{GIVEN} x", 12])
def test_a_given_id_must_be_one_kub_made(bad):
    with pytest.raises(ConfigError) as err:
        deployment.Cluster("kub", "master", {**PROPS, "cluster_id": bad})
    assert str(err.value).startswith(f"master node master: cluster_id {bad!r} is not a cluster id kub made: give "
                                     f"the cluster_id output of the deployment that installed the cluster")


LIB = Path(deployment.__file__).resolve().parents[2] / "scripts" / "lib.sh"


@pytest.mark.parametrize("mark,cluster_id,expected", [
    (f"{GIVEN} kub/master\n", GIVEN, f"{GIVEN}|kub/master|ours"),
    (f"{GIVEN} kub/master\n", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", f"{GIVEN}|kub/master|not ours"),
    ("kub/master\n", "", "kub/master|kub/master|not ours"),      # a mark without an id: nobody's cluster id
    (None, "", "||not ours"),                                    # no mark: an empty id does not match it
])
def test_the_scripts_read_the_mark_as_python_does(tmp_path, mark, cluster_id, expected):
    owner = tmp_path / "owner"
    if mark is not None:
        owner.write_text(mark)
    script = (f". {LIB}; echo \"$(owner_id)|$(owner_name)|$(marked_ours && echo ours || echo 'not ours')\"")
    out = subprocess.run(["bash", "-c", script], env={"KUB_OWNER_FILE": str(owner), "KUB_CLUSTER_ID": cluster_id,
                                                      "PATH": "/usr/bin:/bin"},
                         check=True, capture_output=True, text=True).stdout
    assert out == expected + "\n"
    if mark is not None:
        facts = host_facts.parse(f"owner={mark}")
        assert f"{facts.owner_id}|{facts.owner_name}" == expected.rsplit("|", 1)[0]
