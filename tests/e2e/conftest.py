"""End-to-end fixtures: the real cfy CLI (local mode) against lab hosts."""
import itertools

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

