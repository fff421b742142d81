"""A real etcd on this machine's loopback, for the tests that run the stand-in API server here (no lab hosts): the
etcd the lab serves as kubeadm's etcd image, with TLS from an etcd CA of its own as kubeadm sets it up (client and
peer certificates required), and the API server's client certificate."""
import socket
import subprocess
import sys
import time

from kub_lab import releases, repo

sys.path.insert(0, str(repo.STANDINS))
from kube import etcd, pki  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalEtcd:
    def __init__(self, d):
        d.mkdir(parents=True, exist_ok=True)
        built = releases.ensure_releases()
        self.binary = built / releases.etcd_image_path(releases.versions(built)["etcd"]) / "etcd"
        ca, ca_key = pki.new_ca("etcd-ca")
        pairs = {"ca": (ca, ca_key), "apiserver-etcd-client": pki.sign(ca, ca_key, "kube-apiserver-etcd-client",
                                                                       client=True)}
        for name in ("server", "peer"):
            pairs[name] = pki.sign(ca, ca_key, "localhost", dns=["localhost"], ips=["127.0.0.1"], server=True,
                                   client=True)
        for name, (cert, key) in pairs.items():
            (d / (name + ".crt")).write_bytes(cert)
            (d / (name + ".key")).write_bytes(key)
            (d / (name + ".key")).chmod(0o600)
        self.dir = d
        self.url = "https://127.0.0.1:%d" % free_port()
        peer = "https://127.0.0.1:%d" % free_port()
        self.proc = subprocess.Popen(
            [str(self.binary), "--name=local", "--data-dir=%s" % (d / "data"), "--listen-client-urls=" + self.url,
             "--advertise-client-urls=" + self.url, "--listen-peer-urls=" + peer,
             "--initial-advertise-peer-urls=" + peer, "--initial-cluster=local=" + peer,
             "--listen-metrics-urls=http://127.0.0.1:%d" % free_port(),
             "--cert-file=%s" % (d / "server.crt"), "--key-file=%s" % (d / "server.key"),
             "--trusted-ca-file=%s" % (d / "ca.crt"), "--client-cert-auth=true",
             "--peer-cert-file=%s" % (d / "peer.crt"), "--peer-key-file=%s" % (d / "peer.key"),
             "--peer-trusted-ca-file=%s" % (d / "ca.crt"), "--peer-client-cert-auth=true"],
            stdout=subprocess.DEVNULL, stderr=open(d / "etcd.log", "w"))
        client = etcd.Client(self.url, *self.client_files())
        deadline = time.monotonic() + 30
        while True:
            try:
                client.revision()
                return
            except etcd.EtcdError:
                assert time.monotonic() < deadline and self.proc.poll() is None, (d / "etcd.log").read_text()[-2000:]
                time.sleep(0.1)

    def client_files(self):
        return (str(self.dir / "ca.crt"), str(self.dir / "apiserver-etcd-client.crt"),
                str(self.dir / "apiserver-etcd-client.key"))

    def flags(self):
        """kube-apiserver's flags for this etcd."""
        ca, cert, key = self.client_files()
        return ["--etcd-servers=" + self.url, "--etcd-cafile=" + ca, "--etcd-certfile=" + cert, "--etcd-keyfile=" + key]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
