"""Downloads on the machine running cfy, kept for a while (CACHE_SECONDS), from addresses a blueprint may name.

A host that is loopback, link-local or a cloud metadata address is refused, also after a redirect: on a Cloudify
Manager a blueprint must not make a worker read its cloud's metadata service and ship it to a host."""
import hashlib
import http.client
import ipaddress
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import ConfigError

FETCH_TIMEOUT = 30

# how long a download is kept: the operations of one run share it, while a long-lived process (a Cloudify
# Manager's worker) neither goes on with a stale index or "latest" manifest nor keeps old releases in memory
CACHE_SECONDS = 600

_cache = {}   # key -> (when it was made, value)

_cache_lock = threading.Lock()


def cached(key, make):
    """What make() returns for key, made again once it is CACHE_SECONDS old."""
    now = time.monotonic()
    with _cache_lock:
        for old in [k for k, (made, _) in _cache.items() if now - made > CACHE_SECONDS]:
            del _cache[old]
        if key in _cache:
            return _cache[key][1]
    value = make()
    with _cache_lock:
        _cache[key] = (now, value)
    return value


# cloud metadata services outside the link-local range (AWS's IPv6 one, Alibaba's)
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


class _Refused(Exception):
    """A URL kub does not fetch from (its reason as the message)."""


def _why_refused(address):
    """Why kub does not connect to an address ('' where it does)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for test, kind in ((ip.is_loopback, "a loopback"), (ip.is_link_local, "a link-local"),
                       (ip.is_unspecified, "an unspecified"), (ip.is_multicast, "a multicast")):
        if test:
            return f"{kind} address"
    return ""


def _checked_addresses(host, port):
    """getaddrinfo's answers for host, once every address it resolves to is one kub may connect to."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise urllib.error.URLError(err) from None
    for *_, sockaddr in found:
        why = _why_refused(sockaddr[0])
        if why:
            raise _Refused(f"{host} resolves to {sockaddr[0]}, {why} (loopback, link-local and cloud metadata "
                           f"addresses are refused)")
    return found


def _connect_checked(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """socket.create_connection to an address that was checked, not resolved again (no second answer)."""
    host, port = address
    error = None
    for family, kind, proto, _, sockaddr in _checked_addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as err:
            error = err
            sock.close()
    raise error or OSError(f"{host}: no address")


def _guarded(connection_class):
    class Guarded(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = _connect_checked
    return Guarded


class _GuardedHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """Connects only to addresses that are not loopback, link-local or metadata: the URL's host is checked at
    every request (redirects too), and the connection goes to the very addresses checked (a proxy the user set
    up is used as it is, the target host checked by its own resolution)."""

    def _open(self, connection_class, req, **kwargs):
        target = urllib.parse.urlsplit(req.full_url)
        _checked_addresses(target.hostname, target.port or (443 if target.scheme == "https" else 80))
        proxied = req.host != target.netloc or getattr(req, "_tunnel_host", None)
        return self.do_open(connection_class if proxied else _guarded(connection_class), req, **kwargs)

    def http_open(self, req):
        return self._open(http.client.HTTPConnection, req)

    def https_open(self, req):
        return self._open(http.client.HTTPSConnection, req, context=self._context)


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only (not ftp), and from https to https only."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        allowed = ("https",) if req.full_url.lower().startswith("https://") else ("https", "http")
        if urllib.parse.urlsplit(newurl).scheme.lower() not in allowed:
            raise _Refused(f"it redirects to {newurl}, which is not {' or '.join(allowed)}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_GuardedHandler(), _NoDowngrade())


def fetch(url, timeout=FETCH_TIMEOUT):
    """The body at url (kept for CACHE_SECONDS); HTTPError and URLError pass to the caller. A host that is
    loopback, link-local or a cloud metadata address is refused (ConfigError), also after a redirect."""
    def read():
        try:
            with _opener.open(url, timeout=timeout) as response:
                return response.read()
        except _Refused as err:
            raise ConfigError(f"{url} is not fetched: {err}: give a URL of a server elsewhere (a mirror), or a "
                              f"file beside the blueprint") from None
    return cached(url, read)


def why(err):
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    return str(getattr(err, "reason", err))


def sha256(body):
    return hashlib.sha256(body).hexdigest()
