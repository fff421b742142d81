"""How a failed SSH login is told: a host that refused it, or one that did not answer (down, hung)."""
import paramiko

from kub_plugin.cluster.settings import SshSettings
from kub_plugin.errors import RemoteError, Unreachable
from kub_plugin.hosts.login import host_login, login_error


def error(err, answered):
    return login_error(host_login(SshSettings(ip="10.0.0.9", user="root", private_key_path="/k")), err, answered)


def test_a_login_the_host_refused_names_the_user_and_the_key():
    found = error(paramiko.AuthenticationException("Authentication failed."), answered=True)
    assert type(found) is RemoteError
    assert str(found).startswith("10.0.0.9: SSH login as 'root' was refused: check ssh.user and the key or password")


def test_a_login_without_answer_is_a_host_that_is_down_not_a_refusal():
    for err, answered in ((paramiko.AuthenticationException("Authentication failed."), False),
                          (paramiko.AuthenticationException("Authentication timeout."), True)):
        found = error(err, answered)
        assert isinstance(found, Unreachable), found
        assert "was refused" not in str(found)
        assert str(found).startswith("10.0.0.9: the SSH login on port 22 got no answer")
        assert "the host may be down or hung" in str(found)
