"""End-to-end fixtures: the real cfy CLI (local mode) against lab hosts."""
import itertools
import subprocess

import pytest

from kub_lab.cfy import PROJECT, LocalCfy

_counter = itertools.count()


@pytest.fixture
def new_cfy(tmp_path):
    """Makes LocalCfy instances with their own work dirs and blueprint ids."""
    def make(blueprint=PROJECT / "barevm-blueprint.yaml", extra_files=()):
        n = next(_counter)
        cfy = LocalCfy(tmp_path / f"cfy{n}", blueprint_id=f"kub{n}", blueprint=blueprint)
        cfy.stage(extra_files)
        return cfy
    return make


@pytest.fixture(scope="session")
def make_target():
    """Runs `make TARGET` in the project (once per target and session); returns the project's dist/ folder."""
    made = set()

    def make(target):
        if target not in made:
            result = subprocess.run(["make", "-s", target], cwd=PROJECT, text=True, capture_output=True,
                                    timeout=900)
            assert result.returncode == 0, f"make {target} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            made.add(target)
        return PROJECT / "dist"
    return make

