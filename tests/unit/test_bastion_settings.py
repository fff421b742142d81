"""ssh.bastion, the jump host a node's hosts are reached through: its settings checked before any host is touched
(each problem one line naming the host, the setting and the fix), and how a failed login to it or through it is
told (the bastion or the host named, never a third-party traceback, never a secret)."""
import paramiko
import pytest

from kub_plugin.cfy import setting_names
from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.errors import ConfigError, RemoteError, Unreachable
from kub_plugin.hosts import bastion
from kub_plugin.hosts.keys import VerifyPolicy, fingerprint
from kub_plugin.hosts.login import bastion_login, host_login, login_error

HOST = "10.0.0.12"
KEY = {"private_key_path": "/k"}


def with_bastion(**given):
    return ssh_settings({"ssh": {**KEY, "bastion": given}}, HOST)


@pytest.mark.parametrize("given,message", [
    ({"address": "10.0.0.5", "port": 0}, f"{HOST}: ssh.bastion.port 0 is not a TCP port: use 1-65535"),
    ({"address": "10.0.0.5", "port": 70000}, "ssh.bastion.port 70000 is not a TCP port: use 1-65535 (the bastion's "
                                             "sshd Port, 22 by default)"),
    ({"address": "10.0.0.5", "port": "22"}, f"{HOST}: ssh.bastion.port '22' is not a whole number"),
    ({"address": "10.0.0.5", "user": "", **KEY}, f"{HOST}: ssh.bastion.user is empty: set the login user on the "
                                                 f"bastion 10.0.0.5"),
    ({"address": "10.0.0.5", "user": 7}, "ssh.bastion.user 7 is not a string"),
    ({"address": "10.0.0.300"}, f"{HOST}: ssh.bastion.address '10.0.0.300' is neither an IP address nor a DNS name"),
    ({"address": "jump host"}, "ssh.bastion.address 'jump host' is neither an IP address nor a DNS name: give the "
                               "jump host's address as this machine reaches it"),
    ({"port": 2222}, f"{HOST}: ssh.bastion.port is set but ssh.bastion.address is empty: set the bastion's address, "
                     f"or leave ssh.bastion out to reach the hosts directly"),
    ({"user": "jump"}, "ssh.bastion.user is set but ssh.bastion.address is empty"),
    ({"address": "10.0.0.5", "private_key_passphrase": "s3cret-pass"},
     f"{HOST}: ssh.bastion.private_key_passphrase is set but no key is given: set ssh.bastion.private_key_path or "
     f"ssh.bastion.private_key"),
    ({"address": "10.0.0.5"}, f"{HOST}: no SSH credential for the bastion 10.0.0.5: set ssh.bastion.private_key_path "
                              f"or ssh.bastion.private_key, or run cfy with an ssh-agent that holds its key"),
    ({"address": "10.0.0.5", "host_key_fingerprint": "ab:cd", **KEY},
     f"{HOST}: ssh.bastion.host_key_fingerprint must look like SHA256:<43 base64 characters>"),
    ({"address": "10.0.0.5", "hostname": "b"}, f"{HOST}: unknown ssh.bastion setting(s) hostname: use address, port"),
])
def test_bad_bastion_settings_are_one_line_naming_the_fix(given, message, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(ConfigError) as err:
        with_bastion(**given)
    assert message in str(err.value)
    assert "\n" not in str(err.value) and "s3cret-pass" not in str(err.value)


def test_a_bastion_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match=f"{HOST}: ssh.bastion '10.0.0.5' is not a mapping: give the jump host's "
                                          f"address"):
        ssh_settings({"ssh": {**KEY, "bastion": "10.0.0.5"}}, HOST)


def test_no_bastion_empty_bastion_or_the_host_itself_is_a_direct_login(monkeypatch):
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    assert ssh_settings({"ssh": KEY}, HOST).bastion is None
    # what plugin.yaml's defaults fill in when no bastion is given
    empty = {"address": "", "port": 22, "user": "root", "private_key_path": "", "private_key": "",
             "private_key_passphrase": "", "host_key_fingerprint": ""}
    assert ssh_settings({"ssh": {**KEY, "bastion": empty}}, HOST).bastion is None
    # a node whose hosts share one ssh setting with the bastion among them: the bastion itself is reached directly
    assert with_bastion(address=HOST).bastion is None


def test_a_bastion_by_address_or_name_with_its_defaults(monkeypatch):
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    found = with_bastion(address=" 2001:DB8::5 ").bastion
    assert (found.address, found.port, found.user, found.private_key_path) == ("2001:db8::5", 22, "root", "")
    assert with_bastion(address="Jump.Example.COM", port=2222, user="jump").bastion.address == "jump.example.com"


def test_bastion_secrets_stay_out_of_repr():
    found = with_bastion(address="10.0.0.5", private_key="KEYTEXT", private_key_passphrase="s3cret-pass")
    assert "KEYTEXT" not in repr(found) and "s3cret-pass" not in repr(found)
    assert "KEYTEXT" not in repr(bastion_login(found)) and "s3cret-pass" not in repr(bastion_login(found))


def test_the_bastion_login_has_its_own_user_port_key_and_pin_and_the_host_s_known_hosts():
    settings = ssh_settings({"ssh": {**KEY, "user": "admin", "known_hosts_path": "/kh", "connect_timeout": 4,
                                     "host_key_fingerprint": "SHA256:" + "H" * 43,
                                     "bastion": {"address": "10.0.0.5", "port": 2200, "user": "jump",
                                                 "private_key_path": "/jump",
                                                 "host_key_fingerprint": "SHA256:" + "B" * 43}}}, HOST)
    login = bastion_login(settings)
    assert (login.who, login.address, login.port, login.user, login.private_key_path) == \
        ("bastion 10.0.0.5", "10.0.0.5", 2200, "jump", "/jump")
    assert (login.host_key_fingerprint, login.known_hosts_path, login.connect_timeout) == \
        ("SHA256:" + "B" * 43, "/kh", 4)
    host = host_login(settings)
    assert (host.who, host.user, host.through, host.host_key_fingerprint) == \
        (HOST, "admin", "10.0.0.5", "SHA256:" + "H" * 43)


def test_settings_are_named_as_the_blueprint_s_inputs():
    raw = [{"id": "master", "properties": {"ssh": {"bastion": {"port": {"get_input": "ssh_bastion_port"}}}}}]
    names = setting_names.input_names(raw)
    assert setting_names.as_written(f"{HOST}: ssh.bastion.port 0 is not a TCP port", names) == \
        f"{HOST}: ssh_bastion_port 0 is not a TCP port"


BASTION = with_bastion(address="10.0.0.5", user="jump", private_key_path="/jump")


def test_a_refused_or_silent_bastion_login_names_the_bastion():
    refused = login_error(bastion_login(BASTION), paramiko.AuthenticationException("Authentication failed."))
    assert str(refused) == ("bastion 10.0.0.5: SSH login as 'jump' was refused: check ssh.bastion.user and the key "
                            "(the public key must be in ~jump/.ssh/authorized_keys on the bastion)")
    silent = login_error(bastion_login(BASTION), paramiko.AuthenticationException("x"), answered=False)
    assert isinstance(silent, Unreachable) and "the bastion may be down or hung" in str(silent)


def test_a_host_the_bastion_cannot_reach_or_may_not_forward_to():
    host = host_login(BASTION)
    failed = login_error(host, paramiko.ChannelException(paramiko.common.OPEN_FAILED_CONNECT_FAILED, "Connect failed"))
    assert isinstance(failed, Unreachable)
    assert str(failed) == (f"{HOST}: bastion 10.0.0.5 cannot connect to SSH port 22 (Connect failed): check that the "
                           f"host is up, that sshd listens on port 22 and that the bastion reaches it")
    prohibited = login_error(host, paramiko.ChannelException(
        paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, "Administratively prohibited"))
    assert type(prohibited) is RemoteError
    assert str(prohibited).endswith("allow TCP forwarding on the bastion (AllowTcpForwarding in its sshd_config)")
    silent = login_error(host, paramiko.SSHException("Timeout opening channel."))
    assert str(silent).startswith(f"{HOST}: bastion 10.0.0.5 got no answer from SSH port 22 within 10 s")
    handshake = login_error(host, EOFError())
    assert str(handshake).startswith(f"{HOST}: SSH handshake on port 22 failed (EOFError) (through bastion 10.0.0.5)")


def test_an_unknown_or_wrong_bastion_key_names_the_bastion_and_the_fix():
    key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else paramiko.ECDSAKey.generate()
    with pytest.raises(RemoteError) as err:
        VerifyPolicy(bastion_login(BASTION)).missing_host_key(None, "10.0.0.5", key)
    assert str(err.value) == (
        f"bastion 10.0.0.5: unknown host key {fingerprint(key)} ({key.get_name()}), not in ~/.ssh/known_hosts: check "
        f"it on the bastion (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it (ssh-keyscan -p 22 "
        f"10.0.0.5 >> ~/.ssh/known_hosts) or set ssh.bastion.host_key_fingerprint: {fingerprint(key)}")
    pinned = with_bastion(address="10.0.0.5", private_key_path="/jump", host_key_fingerprint="SHA256:" + "A" * 43)
    with pytest.raises(RemoteError) as err:
        VerifyPolicy(bastion_login(pinned)).missing_host_key(None, "10.0.0.5", key)
    assert str(err.value).startswith(f"bastion 10.0.0.5: host key {fingerprint(key)} ({key.get_name()}) does not "
                                     f"match the pinned ssh.bastion.host_key_fingerprint SHA256:")
    # a host behind the bastion: its key is read on the bastion
    with pytest.raises(RemoteError) as err:
        VerifyPolicy(host_login(BASTION)).missing_host_key(None, HOST, key)
    assert f"add it (ssh 10.0.0.5 ssh-keyscan -p 22 {HOST} >> ~/.ssh/known_hosts)" in str(err.value)


def test_a_bastion_s_failure_is_the_line_of_each_host_behind_it():
    told = bastion._for_host(Unreachable("bastion 10.0.0.5", "connection refused on SSH port 22",
                                         "start sshd on the bastion or set ssh.bastion.port"), HOST)
    assert isinstance(told, Unreachable) and told.ip == HOST
    assert str(told) == (f"{HOST}: bastion 10.0.0.5: connection refused on SSH port 22: start sshd on the bastion or "
                         f"set ssh.bastion.port")
    assert str(bastion._for_host(RemoteError("bastion 10.0.0.5: unknown host key"), HOST)) == \
        f"{HOST}: bastion 10.0.0.5: unknown host key"


def test_hosts_that_failed_alike_behind_one_bastion_are_told_once():
    from kub_plugin.hosts import parallel
    told = parallel._alike([RemoteError(f"{ip}: bastion 10.0.0.5: unknown host key") for ip in (HOST, "10.0.0.13")]
                           + [RemoteError("10.0.0.14: sudo needs a password"), RemoteError("no host named")])
    assert told == [f"{HOST}, 10.0.0.13: bastion 10.0.0.5: unknown host key", "10.0.0.14: sudo needs a password",
                    "no host named"]


def test_hosts_that_failed_alike_on_their_own_are_each_named():
    from kub_plugin.hosts import parallel
    told = parallel._alike([RemoteError(f"{ip}: belongs to another kub cluster (c/m)") for ip in (HOST, "10.0.0.13")])
    assert told == [f"{HOST}: belongs to another kub cluster (c/m)", "10.0.0.13: belongs to another kub cluster (c/m)"]
