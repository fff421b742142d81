"""The Cloudify glue without Cloudify: how work on several hosts reports its failures, and how errors reach
Cloudify."""
import pytest
from cloudify.exceptions import NonRecoverableError, RecoverableError

from kub_plugin import errors
from kub_plugin.cfy import errors as cfy_errors
from kub_plugin.cfy import machine
from kub_plugin.cluster.settings import SshSettings
from kub_plugin.errors import ConfigError, ConnectionLost, RemoteError
from kub_plugin.hosts import parallel


class FakeHost:
    def __init__(self, settings, logger, plan=None):
        self.ip = settings.ip
        self.plan = plan

    def open(self):
        if self.ip.endswith(".99"):
            raise errors.Unreachable(self.ip, "connection refused on SSH port 22", "start sshd")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(autouse=True)
def fake_hosts(monkeypatch):
    monkeypatch.setattr(parallel, "Host", FakeHost)


def hosts(*ips):
    return [SshSettings(ip=ip, private_key_path="/k") for ip in ips]


def test_results_by_host():
    assert parallel.on_hosts(hosts("10.0.0.1", "10.0.0.2"), None, lambda h: h.ip[-1]) == \
        {"10.0.0.1": "1", "10.0.0.2": "2"}
    assert parallel.on_hosts([], None, lambda h: 1) == {}


def test_an_unreachable_host_is_answered_for_by_its_handler_while_the_others_do_their_work():
    done = []

    def not_reset(err):
        raise RemoteError(f"{err.ip}: not reset ({err.reason})")
    with pytest.raises(RemoteError, match=r"^10.0.0.99: not reset \(connection refused on SSH port 22\)$"):
        parallel.on_hosts(hosts("10.0.0.1", "10.0.0.99", "10.0.0.2"), None, lambda h: done.append(h.ip), not_reset)
    assert sorted(done) == ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(errors.Unreachable, match="^10.0.0.99: connection refused on SSH port 22: start sshd$"):
        parallel.on_hosts(hosts("10.0.0.99"), None, lambda h: None)


def test_one_failure_is_raised_as_it_is():
    def work(host):
        if host.ip == "10.0.0.2":
            raise RemoteError("10.0.0.2: broken")
    with pytest.raises(RemoteError, match="^10.0.0.2: broken$"):
        parallel.on_hosts(hosts("10.0.0.1", "10.0.0.2"), None, work)


def test_every_failure_is_named_and_only_lost_connections_are_worth_a_retry():
    def lost(host):
        raise ConnectionLost(f"{host.ip}: the SSH connection was lost")
    with pytest.raises(ConnectionLost) as err:
        parallel.on_hosts(hosts("10.0.0.1", "10.0.0.2"), None, lost)
    assert "2 of 2 hosts failed" in str(err.value) and "10.0.0.1" in str(err.value) and "10.0.0.2" in str(err.value)

    def mixed(host):
        if host.ip == "10.0.0.1":
            raise ConnectionLost("10.0.0.1: the SSH connection was lost")
        raise RemoteError("10.0.0.2: bad")
    with pytest.raises(RemoteError) as err:
        parallel.on_hosts(hosts("10.0.0.1", "10.0.0.2"), None, mixed)
    assert not isinstance(err.value, ConnectionLost)


@pytest.mark.parametrize("error,kind,prefix", [
    (ConfigError("x"), NonRecoverableError, "bad input: x"),
    (ConnectionLost("10.0.0.1: lost"), RecoverableError, "10.0.0.1: lost"),
    (RemoteError("10.0.0.1: refused"), NonRecoverableError, "10.0.0.1: refused"),
])
def test_cloudify_errors(error, kind, prefix):
    @cfy_errors.cloudify_errors
    def op():
        raise error
    with pytest.raises(kind) as err:
        op()
    assert str(err.value) == prefix


def test_an_unforeseen_exception_is_final_and_one_line():
    @cfy_errors.cloudify_errors
    def create():
        raise ValueError("x\nsecond line")
    with pytest.raises(NonRecoverableError) as err:
        create()
    assert "kub failed unexpectedly in create (ValueError" in str(err.value) and "second line" not in str(err.value)


class FakeMasterCtx:
    """A master node instance's ctx, as _cloudify_errors reads it."""

    def __init__(self, retry_number, max_retries):
        from types import SimpleNamespace
        self.type = "node-instance"
        self.node = SimpleNamespace(type_hierarchy=["cloudify.nodes.Root", "kub.nodes.Host", "kub.nodes.Master"])
        self.instance = SimpleNamespace(runtime_properties={}, update=lambda: None)
        self.operation = SimpleNamespace(retry_number=retry_number, max_retries=max_retries)


@pytest.mark.parametrize("retry_number,max_retries,recorded", [
    (0, 3, False), (2, 3, False), (3, 3, True), (0, 0, True), (7, -1, False)])
def test_a_masters_lost_connection_is_recorded_on_its_last_try_only(retry_number, max_retries, recorded):
    """Minions waiting for the master stop waiting once Cloudify will not retry the master's operation."""
    ctx = FakeMasterCtx(retry_number, max_retries)

    @cfy_errors.cloudify_errors
    def configure(ctx):
        raise ConnectionLost("10.0.0.1: the SSH connection was lost")
    with pytest.raises(RecoverableError):
        configure(ctx=ctx)
    failed = ctx.instance.runtime_properties.get("failed", "")
    assert failed == ("configure: 10.0.0.1: the SSH connection was lost" if recorded else "")


class FakeStorage:
    def get_nodes(self, evaluate_functions=False):
        return []


class FakeCtx:
    """An operation's ctx in local mode (cfy's storage on its endpoint) or on a manager (none)."""

    def __init__(self, local_mode, **props):
        from types import SimpleNamespace
        self._endpoint = SimpleNamespace(storage=FakeStorage() if local_mode else None)
        self.node = SimpleNamespace(properties=props)
        self.deployment = SimpleNamespace(id="kub")
        self.get_resource = lambda path: b""


def test_local_mode_is_told_from_a_manager_by_cfy_local_storage():
    assert machine.manifest_sources(FakeCtx(True), False).local_mode
    assert not machine.manifest_sources(FakeCtx(False), True).local_mode
    assert machine.manifest_sources(FakeCtx(False), True).allow_plain_http


def test_a_local_kubeconfig_path_is_refused_on_a_manager():
    assert machine.kubeconfig_setting(FakeCtx(True, local_kubeconfig_path="~/.kube/config")) == "~/.kube/config"
    assert machine.kubeconfig_setting(FakeCtx(False)) == ""
    with pytest.raises(ConfigError, match="^local_kubeconfig_path /etc/cron.d/x names a file of the Cloudify "
                                          "Manager's worker: leave it empty there"):
        machine.kubeconfig_setting(FakeCtx(False, local_kubeconfig_path="/etc/cron.d/x"))
    with pytest.raises(ConfigError, match="is not a file path"):
        machine.kubeconfig_setting(FakeCtx(True, local_kubeconfig_path="/tmp/"))
