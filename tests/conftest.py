"""Shared fixtures. `lab`: one lab of 5 hosts for the whole test session (tests/lab_indexes.py names every
index the tests use)."""
import concurrent.futures
import os

import pytest
from lab_indexes import LAB_INDEX

LAB_HOSTS = 5


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs the lab's hosts (root, this machine's namespaces)")


@pytest.fixture(scope="session", autouse=True)
def home_of_its_own(tmp_path_factory):
    """The tests' cfy runs (and kub in them) write under ~ (the admin kubeconfig's default is
    ~/.kube/kub-<deployment>.conf): a home of the session's own, so that no run meets files an earlier one left."""
    before = os.environ.get("HOME")
    os.environ["HOME"] = str(tmp_path_factory.mktemp("home"))
    yield
    if before is None:
        del os.environ["HOME"]
    else:
        os.environ["HOME"] = before


@pytest.fixture(scope="session")
def lab():
    from kub_lab.lab import Lab

    lab = Lab(index=LAB_INDEX)
    lab.down()   # leftovers of an interrupted earlier run
    lab.up(LAB_HOSTS, fresh=True)   # no disk state from earlier sessions
    yield lab
    lab.down()


@pytest.fixture
def pristine_hosts(lab):
    """Call with host numbers (none: all) to get them back with fresh disks; returns the lab."""
    def wipe(*hosts):
        hosts = hosts or range(1, LAB_HOSTS + 1)
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(lab.wipe, hosts))
        return lab
    return wipe
