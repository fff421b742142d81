"""Private keys as kub opens them: with ssh.private_key_passphrase when they have one; a wrong or missing
passphrase is one line naming the host and the fix, and the passphrase is in no message."""
import subprocess

import pytest

from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.errors import RemoteError
from kub_plugin.hosts.keys import fingerprint, load_key
from kub_plugin.hosts.login import host_login

PASSPHRASE = "correct horse battery"


def keypair(tmp_path, kind, passphrase):
    path = tmp_path / f"id_{kind}"
    extra = ["-m", "PEM"] if kind == "rsa" else []   # the older PEM form (Proc-Type: 4,ENCRYPTED) too
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", passphrase, "-f", str(path)], check=True)
    public = (tmp_path / f"id_{kind}.pub").read_text().split()[1]
    return path, public


def settings(**ssh):
    return host_login(ssh_settings({"ssh": ssh}, "10.0.0.1"))


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_a_passphrase_opens_its_key(tmp_path, kind):
    path, public = keypair(tmp_path, kind, PASSPHRASE)
    key = load_key(settings(private_key_path=str(path), private_key_passphrase=PASSPHRASE))
    assert key.get_base64() == public
    as_text = load_key(settings(private_key=path.read_text(), private_key_passphrase=PASSPHRASE))
    assert fingerprint(as_text) == fingerprint(key)


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_a_wrong_or_missing_passphrase_is_one_line_without_it(tmp_path, kind):
    path, _ = keypair(tmp_path, kind, PASSPHRASE)
    with pytest.raises(RemoteError) as err:
        load_key(settings(private_key_path=str(path), private_key_passphrase="not it"))
    assert str(err.value) == (f"10.0.0.1: ssh.private_key_passphrase does not open ssh.private_key_path {path}: "
                              f"give that key's passphrase (ssh-keygen -y -f KEY asks for it and tells)")
    with pytest.raises(RemoteError) as err:
        load_key(settings(private_key_path=str(path)))
    assert str(err.value).startswith(f"10.0.0.1: ssh.private_key_path {path} is protected by a passphrase: set "
                                     f"ssh.private_key_passphrase")
    assert PASSPHRASE not in str(err.value) and "\n" not in str(err.value)


def test_a_key_without_passphrase_opens_with_one_given(tmp_path):
    path, public = keypair(tmp_path, "ed25519", "")
    assert load_key(settings(private_key_path=str(path), private_key_passphrase="unused")).get_base64() == public
