"""One version everywhere, and the manager's plugin.yaml derived from plugin.yaml (release/)."""
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "release"))
import manager_plugin  # noqa: E402


def setup_version():
    return re.search(r'version="([^"]+)"', (ROOT / "setup.py").read_text()).group(1)


def test_plugin_yaml_names_the_package_version_and_its_wheel():
    plugin = yaml.safe_load((ROOT / "plugin.yaml").read_text())["plugins"]["kub"]
    version = setup_version()
    assert plugin["package_name"] == "kub" and plugin["package_version"] == version
    assert plugin["source"] == f"kub-{version}-py3-none-any.whl"
    readme = (ROOT / "README.md").read_text()
    assert f"dist/kub-{version}-py3-none-any.whl" in readme
    assert f"dist/kub-{version}-py311-none-linux_x86_64.wgn" in readme


def test_the_manager_variant_drops_source_and_its_comment_only():
    text = (ROOT / "plugin.yaml").read_text()
    variant = manager_plugin.manager_variant(text)
    assert "source" not in yaml.safe_load(variant)["plugins"]["kub"]
    removed = set(text.splitlines()) - set(variant.splitlines())
    assert all(line.startswith("    #") or line.startswith("    source:") for line in removed), removed
    assert len(variant.splitlines()) == len(text.splitlines()) - len(removed) + 1   # + the header line


def test_a_source_the_generator_cannot_drop_cleanly_is_refused():
    text = "plugins:\n  kub:\n    package_name: kub\n    source: >-\n      kub.whl\n"
    with pytest.raises(SystemExit, match="keep it on one line"):
        manager_plugin.manager_variant(text)


def test_wheel_wagon_and_variants_need_no_machine_packages():
    """They make only the venv: the lab's Debian packages (make deps, as root) are not among their steps."""
    import subprocess
    plan = subprocess.run(["make", "-n", "-B", "wheel", "wagon", "variants"], cwd=ROOT, text=True,
                          capture_output=True, check=True).stdout
    assert "pip wheel" in plan and "wagon create" in plan and "dsl_variants.py" in plan
    assert "machine-deps" not in plan and "apt-get" not in plan
