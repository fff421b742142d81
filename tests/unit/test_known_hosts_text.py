"""ssh.known_hosts: the trusted host keys as known_hosts text (an input or a secret, where no file of the user's is,
as on a manager), read and refused like the file, and named as such in every message."""
import paramiko
import pytest

from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.errors import RemoteError
from kub_plugin.hosts.keys import VerifyPolicy, fingerprint, known_host_keys
from kub_plugin.hosts.login import bastion_login, host_login, login_error

HOST = "10.0.0.11"


def new_key():
    return paramiko.ECDSAKey.generate()


def line(address, key):
    return f"{address} {key.get_name()} {key.get_base64()}"


def login(tmp_path, text, **ssh):
    settings = ssh_settings({"ssh": {"private_key_path": "/k", "known_hosts": text,
                                     "known_hosts_path": str(tmp_path / "absent"), **ssh}}, HOST)
    return host_login(settings)


def test_the_text_is_read_instead_of_the_file(tmp_path):
    key, other = new_key(), new_key()
    text = f"# checked on the hosts\n{line(HOST, key)}\n\n{line('10.0.0.12', other)}\n"
    entries = known_host_keys(login(tmp_path, text))
    assert [(names, k.get_base64()) for names, k in entries] == [([HOST], key.get_base64()),
                                                                  (["10.0.0.12"], other.get_base64())]


def test_the_bastion_takes_the_host_s_text(tmp_path):
    key = new_key()
    settings = ssh_settings({"ssh": {"private_key_path": "/k", "known_hosts": line("10.0.0.5", key),
                                     "bastion": {"address": "10.0.0.5", "private_key_path": "/b"}}}, HOST)
    assert [names for names, _ in known_host_keys(bastion_login(settings))] == [["10.0.0.5"]]


def test_a_line_kub_cannot_use_is_refused_naming_the_setting_and_its_line(tmp_path):
    with pytest.raises(RemoteError) as err:
        known_host_keys(login(tmp_path, f"{line(HOST, new_key())}\n@cert-authority * ssh-ed25519 AAAA\n"))
    assert str(err.value) == (f"{HOST}: ssh.known_hosts line 2 is an @cert-authority line, which kub does not "
                              f"support: remove or fix that line (or give kub a known_hosts file of its own), or set "
                              f"ssh.host_key_fingerprint")


def test_an_unknown_key_says_to_add_its_line_to_the_text(tmp_path):
    key = new_key()
    with pytest.raises(RemoteError) as err:
        VerifyPolicy(login(tmp_path, line("10.0.0.12", new_key()))).missing_host_key(None, HOST, key)
    assert str(err.value) == (f"{HOST}: unknown host key {fingerprint(key)} ({key.get_name()}), not in "
                              f"ssh.known_hosts: check it on the host (ssh-keygen -lf "
                              f"/etc/ssh/ssh_host_ed25519_key.pub), then add the line ssh-keyscan -p 22 {HOST} prints "
                              f"to ssh.known_hosts or set ssh.host_key_fingerprint: {fingerprint(key)}")


def test_a_changed_key_says_to_replace_its_line_in_the_text(tmp_path):
    old, new = new_key(), new_key()
    err = login_error(login(tmp_path, line(HOST, old)), paramiko.BadHostKeyException(HOST, new, old))
    assert str(err) == (f"{HOST}: host key CHANGED: it is now {fingerprint(new)}, ssh.known_hosts has "
                        f"{fingerprint(old)}: if the host was reinstalled, check the new key on the host, then "
                        f"replace the line of {HOST} in ssh.known_hosts by the new one; otherwise someone may be in "
                        f"between")


def test_with_no_text_the_file_is_named_as_before(tmp_path):
    old, new = new_key(), new_key()
    err = login_error(login(tmp_path, ""), paramiko.BadHostKeyException(HOST, new, old))
    assert f"{tmp_path / 'absent'} has {fingerprint(old)}" in str(err)
    assert f"ssh-keygen -R {HOST} -f {tmp_path / 'absent'}" in str(err)


def test_the_text_stays_out_of_repr(tmp_path):
    text = line(HOST, new_key())
    assert text not in repr(login(tmp_path, text))
    assert text not in repr(ssh_settings({"ssh": {"private_key_path": "/k", "known_hosts": text}}, HOST))
