"""Downloads on the machine running cfy, kept for a while (CACHE_SECONDS), from addresses a blueprint may name.

http(s) goes through requests: a few tries on a failed connection or a server's 5xx, timeouts on connecting and on
every read, and a size cap. A file:// URL (local mode) is read from disk.

A host that is loopback, link-local or a cloud metadata address is refused, also after a redirect: on a Cloudify
Manager a blueprint must not make a worker read its cloud's metadata service and ship it to a host."""
import hashlib
import ipaddress
import socket
import threading
import time
import urllib.parse

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import Retry

from ..errors import ConfigError

FETCH_TIMEOUT = 30       # seconds one read may wait for the server (a read, not the whole download)
CONNECT_TIMEOUT = 10     # seconds to open a connection
MAX_BYTES = 256 * 2**20  # the largest download kept (in memory): containerd's tarball is ~40 MiB
MAX_REDIRECTS = 10
CHUNK = 2**20
# a connection that fails, or a server's 500/502/503/504, is tried again up to 3 times, waiting 0, 1 and 2 s
# between; a server's Retry-After is not followed (it could hold an operation for as long as it likes)
RETRIES = Retry(total=3, connect=3, read=2, status=3, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504),
                allowed_methods=("GET",), raise_on_status=False, respect_retry_after_header=False)

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


class DownloadError(Exception):
    """A download that failed; str() is its reason in a few words ('HTTP 404', 'Connection refused'). `missing`:
    the server answered with an error status, or there is no such file, rather than it could not be reached."""

    def __init__(self, reason, missing=False):
        super().__init__(reason)
        self.missing = missing


def fetch(url, timeout=FETCH_TIMEOUT, limit=MAX_BYTES):
    """The body at an http(s):// or file:// url (kept for CACHE_SECONDS), at most `limit` bytes; DownloadError
    says why not. A host that is loopback, link-local or a cloud metadata address is refused (ConfigError), also
    after a redirect."""
    def read():
        try:
            return _read_file(url, limit) if url.lower().startswith("file://") else _get(url, timeout, limit)
        except _Refused as err:
            raise ConfigError(f"{url} is not fetched: {err}: give a URL of a server elsewhere (a mirror), or a "
                              f"file beside the blueprint") from None
    return cached(url, read)


def sha256(body):
    return hashlib.sha256(body).hexdigest()


# ---- the address guard ----------------------------------------------------------------------------------------

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
    """getaddrinfo's answers for host, once every address it resolves to is one kub may connect to
    (socket.gaierror where it resolves to none)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in found:
        why = _why_refused(sockaddr[0])
        if why:
            raise _Refused(f"{host} resolves to {sockaddr[0]}, {why} (loopback, link-local and cloud metadata "
                           f"addresses are refused)")
    return found


def _connect_checked(host, port, timeout, source_address, options):
    """A socket connected to one of host's addresses, those that were checked, not resolved again (no second
    answer to slip a refused address in)."""
    error = None
    for family, kind, proto, _, sockaddr in _checked_addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            for option in options or ():
                sock.setsockopt(*option)
            if isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as err:
            error = err
            sock.close()
    raise error or OSError(f"{host}: no address")


class _CheckedConnect:
    """urllib3's connection opened by _connect_checked, its failures told as urllib3 tells its own (so requests'
    retries and errors work as they do)."""

    def _new_conn(self):
        try:
            return _connect_checked(self.host, self.port, self.timeout, self.source_address, self.socket_options)
        except socket.gaierror as err:
            raise NameResolutionError(self.host, self, err) from err
        except TimeoutError as err:
            raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from err
        except OSError as err:
            raise NewConnectionError(self, f"Failed to establish a new connection: {err}") from err


class _CheckedHTTPConnection(_CheckedConnect, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnect, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    """Direct connections go only to checked addresses; through a proxy the user set up (requests' own proxy
    managers) the target host is checked by its own resolution, before every request (see _get)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def _check_target(url):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"not an http(s) URL with a host: {url}")
    try:
        _checked_addresses(parts.hostname, parts.port or (443 if parts.scheme.lower() == "https" else 80))
    except socket.gaierror as err:
        raise DownloadError(f"{parts.hostname}: {err.strerror}") from None
    except ValueError as err:   # a port that is no number
        raise DownloadError(str(err)) from None


def _redirected(url, target):
    """The URL a redirect from url leads to: to http(s) only (not ftp), and from https to https only."""
    allowed = ("https",) if url.lower().startswith("https://") else ("https", "http")
    if urllib.parse.urlsplit(target).scheme.lower() not in allowed:
        raise _Refused(f"it redirects to {target}, which is not {' or '.join(allowed)}")
    return target


# ---- reading ----------------------------------------------------------------------------------------------------

def _get(url, timeout, limit):
    """The body at an http(s) url, following its redirects here, each one's target checked before it is asked."""
    with requests.Session() as session:
        adapter = _GuardedAdapter(max_retries=RETRIES)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        for _ in range(MAX_REDIRECTS + 1):
            _check_target(url)
            try:
                with session.get(url, timeout=(CONNECT_TIMEOUT, timeout), stream=True,
                                 allow_redirects=False) as response:
                    if not response.is_redirect:
                        return _body(response, limit)
                    url = _redirected(url, urllib.parse.urljoin(url, session.get_redirect_target(response)))
            except requests.RequestException as err:
                raise DownloadError(_reason(err)) from None
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects")


def _body(response, limit):
    if not 200 <= response.status_code < 300:
        raise DownloadError(f"HTTP {response.status_code}", missing=True)
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise DownloadError(_too_large(limit))
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > limit:
            raise DownloadError(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _read_file(url, limit):
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise DownloadError(f"a file:// URL names a file on this machine (file:///path), not on {parts.netloc}")
    try:
        with open(urllib.parse.unquote(parts.path), "rb") as f:
            body = f.read(limit + 1)
    except FileNotFoundError:
        raise DownloadError("no such file", missing=True) from None
    except OSError as err:
        raise DownloadError(err.strerror or str(err)) from None
    if len(body) > limit:
        raise DownloadError(_too_large(limit))
    return body


def _too_large(limit):
    return f"larger than {limit // 2**20} MiB"


def _reason(err):
    """A failed request's first cause in a few words ('Connection refused', 'timed out'), not requests' and
    urllib3's wrappers around it."""
    while err.__cause__ or err.__context__:
        err = err.__cause__ or err.__context__
    return getattr(err, "strerror", None) or str(err)
