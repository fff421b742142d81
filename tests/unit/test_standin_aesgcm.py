"""The stand-in kubeadm's AES-GCM (lab/standins/kube/aesgcm.py), which seals the kubeadm-certs Secret as Go's
crypto/cipher does: checked against the cryptography package's AES-GCM, byte for byte."""
import os
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab" / "standins"))

from kube import aesgcm  # noqa: E402


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1679, 3243])
@pytest.mark.parametrize("key_size", [16, 32])
def test_sealed_as_go_seals_it(size, key_size):
    key, data, nonce = os.urandom(key_size), os.urandom(size), os.urandom(12)
    sealed = aesgcm.seal(key, data, nonce)
    assert sealed == nonce + AESGCM(key).encrypt(nonce, data, None)
    assert aesgcm.open_sealed(key, sealed) == data


def test_another_key_or_a_changed_byte_fails_authentication():
    key = os.urandom(32)
    sealed = aesgcm.seal(key, b"-----BEGIN CERTIFICATE-----")
    with pytest.raises(aesgcm.AuthenticationError, match="^cipher: message authentication failed$"):
        aesgcm.open_sealed(os.urandom(32), sealed)
    changed = sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
    with pytest.raises(aesgcm.AuthenticationError):
        aesgcm.open_sealed(key, changed)
    with pytest.raises(ValueError, match="crypto/aes: invalid key size 10"):
        aesgcm.seal(os.urandom(10), b"x")
