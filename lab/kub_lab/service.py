"""The lab service: one HTTP server per lab on the bridge address, port 3142.

- apt on the hosts uses it as proxy (they have no other way out): absolute-URI requests to the Debian
  mirrors are forwarded; .deb and by-hash files (immutable) are cached on disk, shared by all labs.
- the local Kubernetes package repository: /core:/stable:/... is served from a directory, whether asked
  as a plain path or as a proxy request addressed to the service itself; and from the same directory each
  minor's kubectl at dl.k8s.io's paths, /dl.k8s.io/release/v<version>/bin/linux/<arch>/kubectl (+ .sha256).
- containerd and runc releases at their upstream paths, /github.com/... and /raw.githubusercontent.com/...,
  and the etcd image's binaries at /registry.k8s.io/etcd/<tag>/, from another directory (kub_lab.releases).
Anything else: 403 for a proxy target that is not allowed, 404 for an unknown local path.

usage: python -m kub_lab.service --bind IP --port 3142 --cache DIR --repo DIR [--releases DIR]
"""
import argparse
import email.utils
import hashlib
import mimetypes
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

UPSTREAMS = {"deb.debian.org", "security.debian.org"}
REPO_PREFIX = "/core:/stable:/"
KUBECTL_PREFIX = "/dl.k8s.io/"
RELEASE_PREFIXES = ("/github.com/", "/raw.githubusercontent.com/", "/registry.k8s.io/")
UPSTREAM_TIMEOUT = 60


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kub-lab"

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def do_GET(self):
        self._route(head=False)

    def do_HEAD(self):
        self._route(head=True)

    def do_CONNECT(self):
        self._reply_empty(403)   # no https tunnels: hosts reach only what the lab serves

    def _route(self, head):
        if self.path.startswith("/"):
            return self._local(urlsplit(self.path).path, head)
        url = urlsplit(self.path)
        if url.scheme == "http" and url.hostname == self.server.bind_ip and (url.port or 80) == self.server.port:
            return self._local(url.path, head)
        if url.scheme == "http" and url.hostname in UPSTREAMS:
            return self._proxy(head)
        self._reply_empty(403)

    # ---- local repository ------------------------------------------------------------------------

    def _local(self, raw_path, head):
        path = unquote(raw_path)
        if path.startswith((REPO_PREFIX, KUBECTL_PREFIX)):
            root = self.server.repo_dir.resolve()
        elif path.startswith(RELEASE_PREFIXES) and self.server.releases_dir is not None:
            root = self.server.releases_dir.resolve()
        else:
            return self._reply_empty(404)
        target = (root / path.lstrip("/")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return self._reply_empty(404)
        stat = target.stat()
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                if int(stat.st_mtime) <= email.utils.parsedate_to_datetime(since).timestamp():
                    return self._reply_empty(304)
            except (TypeError, ValueError):
                pass
        self._send_file(target, head, content_type=mimetypes.guess_type(target.name)[0],
                        last_modified=email.utils.formatdate(stat.st_mtime, usegmt=True))

    # ---- proxy to the Debian mirrors -------------------------------------------------------------

    def _proxy(self, head):
        url = urlsplit(self.path)
        cacheable = url.path.endswith((".deb", ".udeb")) or "/by-hash/" in url.path
        cached = self.server.cache_dir / (hashlib.sha256(self.path.encode()).hexdigest()[:32] + "-"
                                          + os.path.basename(url.path))
        if cacheable and cached.is_file():
            return self._send_file(cached, head)
        headers = {"User-Agent": "kub-lab-service"}
        if not cacheable and self.headers.get("If-Modified-Since"):
            headers["If-Modified-Since"] = self.headers["If-Modified-Since"]
        request = urllib.request.Request(self.path, method="HEAD" if head else "GET", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT) as response:
                if cacheable and not head:
                    fd, tmp = tempfile.mkstemp(dir=self.server.cache_dir, prefix=".part-")
                    try:
                        with os.fdopen(fd, "wb") as f:
                            shutil.copyfileobj(response, f)
                        os.replace(tmp, cached)   # atomic: concurrent readers see all or nothing
                    finally:
                        if os.path.exists(tmp):
                            os.unlink(tmp)
                    return self._send_file(cached, head)
                self._relay(response, head)
        except urllib.error.HTTPError as e:
            self._reply_empty(e.code, last_modified=e.headers.get("Last-Modified"))
        except OSError as e:
            self.log_message("upstream error for %s: %s", self.path, e)
            self._reply_empty(502)

    def _relay(self, response, head):
        length = response.headers.get("Content-Length")
        body = None
        if length is None and not head:
            body = response.read()
            length = str(len(body))
        self.send_response(response.status)
        for name in ("Content-Type", "Last-Modified", "ETag"):
            if response.headers.get(name):
                self.send_header(name, response.headers[name])
        self.send_header("Content-Length", length or "0")
        self.end_headers()
        if head:
            return
        if body is not None:
            self.wfile.write(body)
        else:
            shutil.copyfileobj(response, self.wfile)

    # ---- replies ---------------------------------------------------------------------------------

    def _send_file(self, path, head, content_type=None, last_modified=None):
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Content-Type", content_type or "application/octet-stream")
        if last_modified:
            self.send_header("Last-Modified", last_modified)
        self.end_headers()
        if not head:
            with open(path, "rb") as f:
                shutil.copyfileobj(f, self.wfile)

    def _reply_empty(self, code, last_modified=None):
        self.send_response(code)
        if last_modified:
            self.send_header("Last-Modified", last_modified)
        self.send_header("Content-Length", "0")
        self.end_headers()


class LabServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, bind_ip, port, cache_dir, repo_dir, releases_dir=None):
        self.bind_ip, self.port = bind_ip, port
        self.cache_dir, self.repo_dir = Path(cache_dir), Path(repo_dir)
        self.releases_dir = Path(releases_dir) if releases_dir else None
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for part in self.cache_dir.glob(".part-*"):   # downloads cut short; the cache is shared, so only old ones
            try:
                if time.time() - part.stat().st_mtime > 3600:
                    part.unlink()
            except FileNotFoundError:
                pass
        super().__init__((bind_ip, port), Handler)


def main(argv=None):
    parser = argparse.ArgumentParser(description="kub lab service: apt proxy and package repository")
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=3142)
    parser.add_argument("--cache", required=True, help="directory for cached Debian packages")
    parser.add_argument("--repo", required=True, help="directory holding core:/stable:/...")
    parser.add_argument("--releases", help="directory holding github.com/... and raw.githubusercontent.com/...")
    args = parser.parse_args(argv)
    server = LabServer(args.bind, args.port, args.cache, args.repo, args.releases)
    print(f"kub-lab service on {args.bind}:{args.port}, repository {args.repo}, releases {args.releases}",
          file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
