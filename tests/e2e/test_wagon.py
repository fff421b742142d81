"""The package a Cloudify Manager gets: `make wagon`, its wheels checked against glibc 2.28, installed by wagon
into a fresh venv that then drives a cluster (with only the cfy CLI added)."""
import json
import subprocess
import zipfile

import pytest
import wagon
import yaml
from e2e_support import cluster_inputs, kub_location, new_venv, pip_freeze
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from kub_lab.cfy import PROJECT, LocalCfy

pytestmark = pytest.mark.lab
MASTER, MINION = 1, 2
VERSION = yaml.safe_load((PROJECT / "plugin.yaml").read_text())["plugins"]["kub"]["package_version"]
NATIVE = {"cryptography", "bcrypt", "pynacl", "cffi", "pyyaml"}   # kub's own native dependencies, at least


def glibc_228_tags(arch="x86_64"):
    """Every wheel tag pip accepts for CPython 3.11 on a glibc 2.28 Linux (RHEL/Alma 8 family)."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    platforms = []
    for minor in range(28, 4, -1):
        platforms.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy:
            platforms.append(f"{legacy[minor]}_{arch}")
    return set(cpython_tags((3, 11), platforms=platforms)) | set(compatible_tags((3, 11), "cp311", platforms))


@pytest.fixture(scope="module")
def built_wagon(make_target):
    path = make_target("wagon") / f"kub-{VERSION}-py311-none-linux_x86_64.wgn"
    assert path.is_file(), f"make wagon did not write {path.name}"
    return path


def test_every_wheel_in_the_wagon_installs_on_glibc_2_28(built_wagon):
    with zipfile.ZipFile(built_wagon) as archive:
        names = archive.namelist()
        metadata = json.loads(archive.read("kub/package.json"))
    wheels = [name.rsplit("/", 1)[1] for name in names if name.endswith(".whl")]
    assert sorted(wheels) == sorted(metadata["wheels"])
    assert metadata["package_name"] == "kub" and metadata["package_version"] == VERSION
    assert metadata["supported_platform"] == "linux_x86_64"
    allowed = glibc_228_tags()
    # the check itself: what pip picks on a newer system is refused, the manylinux2014 form is not
    assert not parse_wheel_filename("bcrypt-5.0.0-cp39-abi3-manylinux_2_34_x86_64.whl")[3] & allowed
    assert parse_wheel_filename("cffi-2.0.0-cp311-cp311-manylinux2014_x86_64.whl")[3] & allowed
    refused = [wheel for wheel in wheels if not parse_wheel_filename(wheel)[3] & allowed]
    assert refused == [], f"wheels that do not install on glibc 2.28: {refused}"
    names = {str(parse_wheel_filename(wheel)[0]) for wheel in wheels}
    assert {"kub", "cloudify-common", "fabric", "paramiko", "python-debian", "requests", "urllib3"} | NATIVE <= names


def test_the_manager_plugin_yaml_is_plugin_yaml_without_source(built_wagon):
    manager = yaml.safe_load((built_wagon.parent / "plugin.yaml").read_text())
    local = yaml.safe_load((PROJECT / "plugin.yaml").read_text())
    assert local["plugins"]["kub"].pop("source") == f"kub-{VERSION}-py3-none-any.whl"
    assert manager == local


def test_a_venv_made_by_wagon_installs_and_uninstalls_a_cluster(lab, pristine_hosts, built_wagon, tmp_path):
    venv = new_venv(tmp_path / "venv")
    wagon.install(source=str(built_wagon), venv=str(venv))   # what a manager does with an uploaded wagon
    from_wagon = pip_freeze(venv)
    assert from_wagon["kub"] == VERSION
    # the cfy CLI is added beside it and changes none of the wagon's packages
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "cloudify==7.0.5"], check=True)
    with_cli = pip_freeze(venv)
    assert {name: with_cli.get(name) for name in from_wagon} == from_wagon
    assert set(with_cli) - set(from_wagon) >= {"cloudify"}

    cfy = LocalCfy(tmp_path / "cfy", blueprint_id="wagon", venv=venv)
    cfy.stage()
    cfy.init(cluster_inputs(lab, master=MASTER, minions=(MINION,), local_kubeconfig_path=str(tmp_path / "kc")))
    where = kub_location(venv)
    assert where.startswith(str(venv / "lib"))   # the wagon's kub, not this project's
    try:
        cfy.install()
        names = cfy.outputs()["node_names"]
        assert names == {"master": ["kubh1"], "minions": ["kubh2"]}
        ready = lab.exec(MASTER, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes --no-headers").stdout
        assert sorted(line.split()[:2] for line in ready.splitlines()) == [["kubh1", "Ready"], ["kubh2", "Ready"]]
        cfy.uninstall()
        for i in (MASTER, MINION):
            assert lab.exec(i, "test -e /etc/kubernetes/admin.conf -o -e /etc/kubernetes/kubelet.conf",
                            check=False).returncode != 0
    finally:
        pristine_hosts(MASTER, MINION)
