"""Certificates and keys, made with the openssl command like kubeadm makes them with Go's crypto."""
import base64
import hashlib
import ipaddress
import os
import subprocess
import tempfile

from kube import util


class PKIError(Exception):
    pass


def _openssl(args, data=None):
    p = subprocess.run(["openssl"] + args, input=data, capture_output=True)
    if p.returncode != 0:
        raise PKIError("openssl %s: %s" % (args[0], p.stderr.decode(errors="replace").strip()))
    return p.stdout


def new_key():
    return _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])


def _subject(cn, orgs=()):
    return "".join("/O=%s" % o for o in orgs) + "/CN=%s" % cn


def new_ca(cn, days=3650):
    """Self-signed CA (10 years like kubeadm). Returns (cert_pem, key_pem)."""
    key = new_key()
    with tempfile.TemporaryDirectory() as d:
        kp = os.path.join(d, "k")
        util.write_file(kp, key)
        cert = _openssl(["req", "-x509", "-new", "-key", kp, "-subj", _subject(cn), "-days", str(days),
                         "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
                         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
                         "-addext", "subjectKeyIdentifier=hash"])
    return cert, key


def sign(ca_cert, ca_key, cn, orgs=(), dns=(), ips=(), server=False, client=False, days=365, csr=None,
         key=None):
    """Issue a leaf certificate. Returns (cert_pem, key_pem); key_pem is None when a CSR was given."""
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("ca.crt", "ca.key", "k", "csr", "ext")}
        util.write_file(paths["ca.crt"], ca_cert)
        util.write_file(paths["ca.key"], ca_key)
        if csr is None:
            key = key or new_key()
            util.write_file(paths["k"], key)
            csr = _openssl(["req", "-new", "-key", paths["k"], "-subj", _subject(cn, orgs)])
        util.write_file(paths["csr"], csr)
        usages = [u for u, on in (("serverAuth", server), ("clientAuth", client)) if on]
        ext = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
               "authorityKeyIdentifier=keyid"]
        if usages:
            ext.append("extendedKeyUsage=" + ",".join(usages))
        sans = ["DNS:%s" % n for n in dns] + ["IP:%s" % i for i in ips]
        if sans:
            ext.append("subjectAltName=" + ",".join(sans))
        util.write_file(paths["ext"], "\n".join(ext) + "\n")
        cert = _openssl(["x509", "-req", "-in", paths["csr"], "-CA", paths["ca.crt"], "-CAkey", paths["ca.key"],
                         "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
                         "-days", str(days), "-sha256", "-extfile", paths["ext"]])
    return cert, key


def new_csr(cn, orgs=()):
    key = new_key()
    with tempfile.TemporaryDirectory() as d:
        kp = os.path.join(d, "k")
        util.write_file(kp, key)
        csr = _openssl(["req", "-new", "-key", kp, "-subj", _subject(cn, orgs)])
    return csr, key


def csr_subject(csr_pem):
    """(cn, [orgs]) of a CSR."""
    out = _openssl(["req", "-noout", "-subject", "-nameopt", "RFC2253"], csr_pem).decode().strip()
    return _parse_rfc2253(out.split("=", 1)[1] if out.startswith("subject=") else out)


def cert_subject(cert_pem):
    out = _openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253"], cert_pem).decode().strip()
    return _parse_rfc2253(out.split("=", 1)[1] if out.startswith("subject=") else out)


def _parse_rfc2253(text):
    cn, orgs = "", []
    for part in text.split(","):
        k, _, v = part.strip().partition("=")
        if k == "CN":
            cn = v
        elif k == "O":
            orgs.append(v)
    return cn, orgs


def public_key_der(cert_pem):
    """DER SubjectPublicKeyInfo of a certificate (the PEM PUBLIC KEY block is exactly that)."""
    pem = _openssl(["x509", "-noout", "-pubkey"], cert_pem).decode()
    body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
    return base64.b64decode(body)


def ca_cert_hash(cert_pem):
    """kubeadm's --discovery-token-ca-cert-hash value: sha256:<hex of SPKI digest>."""
    return "sha256:" + hashlib.sha256(public_key_der(cert_pem)).hexdigest()


def verify_chain(ca_cert_pem, cert_pem):
    with tempfile.TemporaryDirectory() as d:
        ca = os.path.join(d, "ca")
        util.write_file(ca, ca_cert_pem)
        p = subprocess.run(["openssl", "verify", "-CAfile", ca], input=cert_pem, capture_output=True)
    return p.returncode == 0


def new_rsa_pair():
    """Service-account signing key pair (sa.key / sa.pub)."""
    key = new_key()
    pub = _openssl(["pkey", "-pubout"], key)
    return key, pub


def is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()
