"""Control-plane components that only need to be present: kube-scheduler holds its port and answers health
checks (scheduling is done in kube-controller-manager's loop). etcd is the real one (kube/images.py)."""
import os
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kube import pki, util


class _Health(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        body = b"ok" if self.path.split("?")[0] in ("/healthz", "/livez", "/readyz") else b"404"
        self.send_response(200 if body != b"404" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def self_signed_context(cn):
    """A throwaway serving certificate, like components that generate one in memory at start."""
    cert, key = pki.new_ca(cn, days=365)
    d = tempfile.mkdtemp()
    try:
        c, k = os.path.join(d, "c"), os.path.join(d, "k")
        util.write_file(c, cert)
        util.write_file(k, key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(c, k)
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)
    return ctx


def serve_health(bind, port, ctx=None):
    """Listen on bind:port (retrying while the port is busy) and answer /healthz in a thread."""
    import time
    while True:
        try:
            httpd = ThreadingHTTPServer((bind, port), _Health)
            break
        except OSError as e:
            util.klog("E", "failed to listen on %s:%d: %s" % (bind, port, e))
            time.sleep(1)
    httpd.daemon_threads = True
    if ctx is not None:
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    return httpd


def flag_values(argv):
    """--name=value flags of a component's command line as a dict (a bare --name is "true")."""
    opts = {}
    for a in argv:
        if a.startswith("--"):
            k, _, v = a[2:].partition("=")
            opts[k] = v if _ else "true"
    return opts


def main(argv):
    import time
    opts = flag_values(argv)
    serve_health(opts.get("bind-address", "127.0.0.1"), int(opts.get("secure-port", "10259")),
                 self_signed_context("kube-scheduler"))
    util.klog("I", "Serving securely on %s:%s" % (opts.get("bind-address", "127.0.0.1"),
                                                  opts.get("secure-port", "10259")))
    while True:
        time.sleep(3600)
