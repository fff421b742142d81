"""kub as pip installs it from its folder: a fresh venv, only PyPI, and every requirement met together."""
import shutil
import subprocess

from packaging.version import Version

from kub_lab.cfy import PROJECT


def run(argv, **kwargs):
    result = subprocess.run(argv, text=True, capture_output=True, timeout=900, **kwargs)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_pip_install_in_a_fresh_venv_then_pip_check(tmp_path):
    python = shutil.which("python3.11")
    assert python, "python3.11 is what cloudify 7.0.5 is known good on; put it on PATH"
    venv = tmp_path / "venv"
    run([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin/python"), "-m", "pip"]
    run([*pip, "install", "-q", "--no-cache-dir", str(PROJECT)])
    assert "No broken requirements found." in run([*pip, "check"])
    versions = dict(line.split("==") for line in run([*pip, "freeze"]).splitlines() if "==" in line)
    # the majors setup.py allows, as a plain install resolves them
    assert versions["cryptography"].startswith("43.")
    assert Version("3.1") <= Version(versions["fabric"]) < Version("4")
    assert versions["paramiko"].startswith("5.")
    assert versions["python-debian"].startswith("1.") and versions["requests"].startswith("2.")
    assert Version("2.0.7") <= Version(versions["urllib3"]) < Version("3")
    run([str(venv / "bin/python"), "-c", "import kub_plugin.cfy.cluster_nodes, kub_plugin.cfy.workflows"])
    metadata = run([*pip, "show", "kub"])
    assert "License: Apache-2.0" in metadata
