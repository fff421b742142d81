"""AES-GCM (NIST SP 800-38D) in plain Python, as Go's crypto/cipher seals what kubeadm uploads in the kubeadm-certs
Secret: nonce (12 bytes) || ciphertext || tag (16 bytes). The hosts' python3 has no AES of its own, and openssl's
command line refuses AEAD ciphers; the data is a few small certificates and keys, so speed does not matter."""
import os


class AuthenticationError(Exception):
    """Go's words: the data was sealed with another key, or changed."""

    def __str__(self):
        return "cipher: message authentication failed"


def _sbox():
    box, p, q = [0] * 256, 1, 1
    while True:   # the multiplicative inverse by walking 3 and its inverse through GF(2^8), then the affine map
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        q ^= 0x09 if q & 0x80 else 0
        rot = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4))
        box[p] = (rot ^ 0x63) & 0xFF
        if p == 1:
            break
    box[0] = 0x63
    return box


SBOX = _sbox()


def _xtime(a):
    return ((a << 1) ^ 0x1B) & 0xFF if a & 0x80 else a << 1


def _expand(key):
    if len(key) not in (16, 24, 32):
        raise ValueError("crypto/aes: invalid key size %d" % len(key))
    nk, rounds = len(key) // 4, len(key) // 4 + 6
    words = [list(key[i:i + 4]) for i in range(0, len(key), 4)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        t = list(words[-1])
        if i % nk == 0:
            t = [SBOX[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            t = [SBOX[b] for b in t]
        words.append([a ^ b for a, b in zip(words[i - nk], t)])
    return [sum(words[r * 4:r * 4 + 4], []) for r in range(rounds + 1)]


def _encrypt_block(round_keys, block):
    s = [b ^ k for b, k in zip(block, round_keys[0])]
    for r in range(1, len(round_keys)):
        s = [SBOX[b] for b in s]
        s = [s[(i + 4 * (i % 4)) % 16] for i in range(16)]   # ShiftRows (column-major state)
        if r != len(round_keys) - 1:
            mixed = []
            for c in range(4):
                a = s[4 * c:4 * c + 4]
                t = a[0] ^ a[1] ^ a[2] ^ a[3]
                mixed += [a[i] ^ t ^ _xtime(a[i] ^ a[(i + 1) % 4]) for i in range(4)]
            s = mixed
        s = [b ^ k for b, k in zip(s, round_keys[r])]
    return bytes(s)


def _gmul(x, y):
    """Multiplication in GF(2^128) with GCM's bit order."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ (0xE1 << 120) if v & 1 else v >> 1
    return z


def _ghash(h, aad, data):
    def blocks(b):
        b += b"\0" * (-len(b) % 16)
        return [int.from_bytes(b[i:i + 16], "big") for i in range(0, len(b), 16)]
    y = 0
    for x in blocks(aad) + blocks(data) + [((len(aad) * 8) << 64) | (len(data) * 8)]:
        y = _gmul(y ^ x, h)
    return y


def _ctr(round_keys, counter, data):
    out = bytearray()
    for i in range(0, len(data), 16):
        stream = _encrypt_block(round_keys, counter.to_bytes(16, "big"))
        out += bytes(a ^ b for a, b in zip(data[i:i + 16], stream))
        counter = (counter & ~0xFFFFFFFF) | ((counter + 1) & 0xFFFFFFFF)
    return bytes(out)


def _parts(key, nonce):
    round_keys = _expand(key)
    h = int.from_bytes(_encrypt_block(round_keys, bytes(16)), "big")
    j0 = (int.from_bytes(nonce, "big") << 32) | 1
    return round_keys, h, j0


def seal(key, data, nonce=None):
    """nonce || ciphertext || tag, as kubeadm's cryptoutil.EncryptBytes (a random 12-byte nonce)."""
    nonce = nonce or os.urandom(12)
    round_keys, h, j0 = _parts(key, nonce)
    sealed = _ctr(round_keys, j0 + 1, data)
    tag = _ghash(h, b"", sealed) ^ int.from_bytes(_encrypt_block(round_keys, j0.to_bytes(16, "big")), "big")
    return nonce + sealed + tag.to_bytes(16, "big")


def open_sealed(key, blob):
    """The data seal() sealed with key; AuthenticationError for another key or changed data."""
    if len(blob) < 12:
        raise ValueError("size of data is less than the nonce")
    nonce, sealed, tag = blob[:12], blob[12:-16], blob[-16:]
    round_keys, h, j0 = _parts(key, nonce)
    want = _ghash(h, b"", sealed) ^ int.from_bytes(_encrypt_block(round_keys, j0.to_bytes(16, "big")), "big")
    if len(blob) < 28 or want.to_bytes(16, "big") != tag:
        raise AuthenticationError()
    return _ctr(round_keys, j0 + 1, sealed)
