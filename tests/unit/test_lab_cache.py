"""The lab's caches (its releases, its image registry) are built once, whole or not at all."""
import io

import pytest

from kub_lab import system


def test_a_cache_is_built_once_and_then_found(tmp_path):
    builds, log = [], io.StringIO()

    def build(folder):
        builds.append(folder)
        (folder / "done").write_text("whole")

    for _ in range(2):
        built = system.built_once(tmp_path / "thing", "done", "thing", "a thing", build, log)
    assert built == tmp_path / "thing" and (built / "done").read_text() == "whole"
    assert len(builds) == 1 and log.getvalue() == f"kub-lab: building a thing in {built} (once)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing", "thing.lock"]


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    def build(folder):
        (folder / "half").write_text("x")
        raise RuntimeError("the build failed")

    with pytest.raises(RuntimeError, match="the build failed"):
        system.built_once(tmp_path / "thing", "done", "thing", "a thing", build, io.StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.lock"]
