"""`cfy init --install-plugins` exactly as the README says it, in a venv holding only the cfy CLI, without
network: kub comes from the wheel in the blueprint's plugins/ folder and then installs a cluster."""
import os
import re
import subprocess
import sys

import pytest
import yaml
from e2e_support import cluster_inputs, kub_location

from kub_lab.cfy import PROJECT, LocalCfy

pytestmark = pytest.mark.lab
MASTER = 3
SECTION = "### kub from the blueprint's folder (`--install-plugins`)"


def readme_blocks():
    """The two shell blocks of that README section: the CLI's venv, then the blueprint folder and cfy init."""
    text = (PROJECT / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, f"README section {SECTION!r} should hold two sh blocks"
    return [block.replace("/path/to/kub", str(PROJECT)) for block in blocks]


def bash(script, home, offline=False):
    env = {"HOME": str(home), "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    argv = ["bash", "-euxc", script]
    if offline:
        argv = ["unshare", "--net", *argv]   # a network namespace with nothing in it: no internet, no PyPI
    result = subprocess.run(argv, env=env, cwd=home, text=True, capture_output=True, timeout=900)
    assert result.returncode == 0, f"{script}\nfailed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def test_install_plugins_as_the_readme_says_offline(lab, pristine_hosts, make_target, tmp_path):
    make_target("wheel")
    venv_block, folder_block = readme_blocks()
    home = tmp_path / "home"
    home.mkdir()
    # the venv step needs PyPI (it installs the CLI); python3.11 is this Python's base interpreter
    bash(venv_block.replace("python3.11", sys._base_executable), home)
    venv = home / "cfy-venv"
    assert not (venv / "lib" / "python3.11" / "site-packages" / "kub_plugin").exists()
    (home / "cluster").mkdir()
    (home / "cluster" / "inputs.yaml").write_text(yaml.safe_dump(cluster_inputs(
        lab, master=MASTER, minions=(), local_kubeconfig_path=str(home / "admin.conf"))))

    out = bash(f". {venv}/bin/activate\n{folder_block}", home, offline=True)
    assert "Successfully installed kub-" in out
    where = kub_location(venv)
    assert where.startswith(str(venv / "lib"))   # installed from the wheel, not this checkout

    cfy = LocalCfy(home, blueprint_id="kub", venv=venv)   # the state `cfy init` left under ~/.cloudify
    try:
        cfy.install()
        assert cfy.outputs()["node_names"] == {"master": ["kubh3"], "minions": []}
        assert os.stat(home / "admin.conf").st_size > 0
        cfy.uninstall()
        assert lab.exec(MASTER, "test -e /etc/kubernetes/admin.conf", check=False).returncode != 0
    finally:
        pristine_hosts(MASTER)
