"""A minimal CRI client: gRPC over HTTP/2 on the runtime's unix socket (what crictl and the kubelet do).

Only unary calls of runtime.v1.RuntimeService / ImageService are needed, so this speaks just enough
HTTP/2 (RFC 9113) and HPACK (RFC 7541) for one request per connection, and decodes protobuf by field
number.
"""
import socket
import struct
import urllib.parse

from kube import protobuf

# RFC 7541 Appendix A
_STATIC = [tuple(e.split("=", 1)) for e in (
    ":authority=;:method=GET;:method=POST;:path=/;:path=/index.html;:scheme=http;:scheme=https;:status=200;"
    ":status=204;:status=206;:status=304;:status=400;:status=404;:status=500;accept-charset=;"
    "accept-encoding=gzip, deflate;accept-language=;accept-ranges=;accept=;access-control-allow-origin=;age=;"
    "allow=;authorization=;cache-control=;content-disposition=;content-encoding=;content-language=;"
    "content-length=;content-location=;content-range=;content-type=;cookie=;date=;etag=;expect=;expires=;"
    "from=;host=;if-match=;if-modified-since=;if-none-match=;if-range=;if-unmodified-since=;last-modified=;"
    "link=;location=;max-forwards=;proxy-authenticate=;proxy-authorization=;range=;referer=;refresh=;"
    "retry-after=;server=;set-cookie=;strict-transport-security=;transfer-encoding=;user-agent=;vary=;via=;"
    "www-authenticate=").split(";")]
# RFC 7541 Appendix B code lengths for symbols 0..256 (chr(48 + length)); the code is canonical, so the
# codes themselves follow from the lengths.
_HUFFMAN_LENGTHS = (
    "=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=67777777777777777777777878=C=>6?5656566"
    "6577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGFGGDFFFGFFGJJDCFGFIJJJKKJHIC"
    "EJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJN")


def _huffman_decoder():
    lengths = [ord(c) - 48 for c in _HUFFMAN_LENGTHS]
    order = sorted(range(257), key=lambda s: (lengths[s], s))
    table, code, prev = {}, 0, lengths[order[0]]
    for i, sym in enumerate(order):
        if i:
            code = (code + 1) << (lengths[sym] - prev)
        prev = lengths[sym]
        table[(lengths[sym], code)] = sym
    return table


_HUFF = None


def huffman_decode(data):
    global _HUFF
    if _HUFF is None:
        _HUFF = _huffman_decoder()
    out, code, n = bytearray(), 0, 0
    for byte in data:
        for i in range(7, -1, -1):
            code = (code << 1) | ((byte >> i) & 1)
            n += 1
            sym = _HUFF.get((n, code))
            if sym is not None:
                if sym == 256:
                    return bytes(out)
                out.append(sym)
                code, n = 0, 0
    return bytes(out)  # the remaining bits are EOS padding


class Hpack:
    def __init__(self):
        self.dynamic = []
        self.size = 4096

    def _entry(self, idx):
        if idx <= len(_STATIC):
            return _STATIC[idx - 1]
        return self.dynamic[idx - len(_STATIC) - 1]

    @staticmethod
    def _int(data, pos, prefix):
        mask = (1 << prefix) - 1
        val = data[pos] & mask
        pos += 1
        if val < mask:
            return val, pos
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            val += (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return val, pos

    def _str(self, data, pos):
        huff = data[pos] & 0x80
        ln, pos = self._int(data, pos, 7)
        raw = bytes(data[pos:pos + ln])
        pos += ln
        return (huffman_decode(raw) if huff else raw).decode("latin-1"), pos

    def _add(self, name, value):
        self.dynamic.insert(0, (name, value))
        while sum(32 + len(n) + len(v) for n, v in self.dynamic) > self.size and self.dynamic:
            self.dynamic.pop()

    def decode(self, data):
        headers, pos = [], 0
        while pos < len(data):
            b = data[pos]
            if b & 0x80:  # indexed
                idx, pos = self._int(data, pos, 7)
                headers.append(self._entry(idx))
            elif b & 0x40:  # literal with incremental indexing
                idx, pos = self._int(data, pos, 6)
                name = self._entry(idx)[0] if idx else None
                if name is None:
                    name, pos = self._str(data, pos)
                value, pos = self._str(data, pos)
                self._add(name, value)
                headers.append((name, value))
            elif b & 0x20:  # dynamic table size update
                self.size, pos = self._int(data, pos, 5)
                while sum(32 + len(n) + len(v) for n, v in self.dynamic) > self.size and self.dynamic:
                    self.dynamic.pop()
            else:  # literal without indexing / never indexed
                idx, pos = self._int(data, pos, 4)
                name = self._entry(idx)[0] if idx else None
                if name is None:
                    name, pos = self._str(data, pos)
                value, pos = self._str(data, pos)
                headers.append((name, value))
        return headers


def _hstr(s):
    b = s.encode()
    assert len(b) < 127
    return bytes([len(b)]) + b


def encode_headers(headers):
    """Literal header fields without indexing, plain strings: simple and always valid."""
    return b"".join(b"\x00" + _hstr(n) + _hstr(v) for n, v in headers)


# ---- protobuf ---------------------------------------------------------------------------------------

def pb_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_field(num, value):
    if isinstance(value, bool):
        return pb_varint(num << 3) + pb_varint(int(value))
    if isinstance(value, int):
        return pb_varint(num << 3) + pb_varint(value)
    if isinstance(value, str):
        value = value.encode()
    return pb_varint((num << 3) | 2) + pb_varint(len(value)) + value


def pb_decode(data):
    """{field number: [values]}; length-delimited values stay bytes (decode nested messages on demand)."""
    out = {}
    for num, _, val in protobuf.fields(data):
        out.setdefault(num, []).append(val)
    return out


def pb_str(msg, num, default=""):
    v = msg.get(num)
    return v[0].decode() if v else default


# ---- gRPC -------------------------------------------------------------------------------------------

GRPC_CODES = {0: "OK", 1: "Canceled", 2: "Unknown", 3: "InvalidArgument", 4: "DeadlineExceeded", 5: "NotFound",
              6: "AlreadyExists", 7: "PermissionDenied", 8: "ResourceExhausted", 9: "FailedPrecondition",
              10: "Aborted", 11: "OutOfRange", 12: "Unimplemented", 13: "Internal", 14: "Unavailable",
              15: "DataLoss", 16: "Unauthenticated"}


class RPCError(Exception):
    def __init__(self, code, desc):
        self.code, self.desc = code, desc
        super().__init__("rpc error: code = %s desc = %s" % (GRPC_CODES.get(code, code), desc))


def socket_path(endpoint):
    u = urllib.parse.urlsplit(endpoint)
    if u.scheme not in ("unix", ""):
        raise RPCError(14, 'connection error: desc = "transport: Error while dialing: unsupported scheme %s"'
                       % u.scheme)
    return u.path if u.scheme else endpoint


def _frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def call(endpoint, method, request=b"", timeout=5.0):
    """One unary gRPC call; returns the response message bytes or raises RPCError."""
    path = socket_path(endpoint)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        text = {2: "no such file or directory", 111: "connection refused", 13: "permission denied"}.get(
            e.errno, (e.strerror or str(e)).lower())
        raise RPCError(14, 'connection error: desc = "transport: Error while dialing: dial unix %s: connect: %s"'
                       % (path, text))
    try:
        return _exchange(sock, method, request)
    except socket.timeout:
        raise RPCError(4, "context deadline exceeded")
    except (OSError, ConnectionError) as e:
        raise RPCError(14, 'error reading from server: %s' % e)
    finally:
        sock.close()


def _exchange(sock, method, request):
    headers = [(":method", "POST"), (":scheme", "http"), (":path", method), (":authority", "localhost"),
               ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "grpc-go/1.65.0")]
    body = b"\x00" + struct.pack(">I", len(request)) + request
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0) +
                 _frame(1, 0x4, 1, encode_headers(headers)) + _frame(0, 0x1, 1, body))
    hp = Hpack()
    buf = b""
    data = b""
    header_block = b""
    fields = []
    ended = False
    while True:
        while len(buf) < 9:
            chunk = sock.recv(65536)
            if not chunk:
                raise RPCError(14, "error reading from server: EOF")
            buf += chunk
        ln = int.from_bytes(buf[:3], "big")
        while len(buf) < 9 + ln:
            chunk = sock.recv(65536)
            if not chunk:
                raise RPCError(14, "error reading from server: EOF")
            buf += chunk
        ftype, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
        payload, buf = buf[9:9 + ln], buf[9 + ln:]
        if ftype == 4 and not flags & 1:  # SETTINGS -> ACK
            sock.sendall(_frame(4, 1, 0))
        elif ftype == 6 and not flags & 1:  # PING -> ACK
            sock.sendall(_frame(6, 1, 0, payload))
        elif ftype == 7:  # GOAWAY
            code = int.from_bytes(payload[4:8], "big")
            raise RPCError(14, "connection closed by server (GOAWAY %d)" % code)
        elif ftype == 3 and stream == 1:  # RST_STREAM
            raise RPCError(13, "stream terminated by RST_STREAM with error code: %d"
                           % int.from_bytes(payload[:4], "big"))
        elif ftype == 0 and stream == 1:
            if flags & 0x8:
                pad = payload[0]
                payload = payload[1:len(payload) - pad]
            data += payload
            if payload:
                # give the flow-control window back so large answers keep coming
                inc = struct.pack(">I", len(payload))
                sock.sendall(_frame(8, 0, 0, inc) + _frame(8, 0, 1, inc))
        elif ftype in (1, 9) and stream == 1:
            if ftype == 1:
                if flags & 0x8:
                    pad = payload[0]
                    payload = payload[1:len(payload) - pad]
                if flags & 0x20:
                    payload = payload[5:]
            header_block += payload
            if flags & 0x4:
                fields += hp.decode(header_block)
                header_block = b""
        if stream == 1 and ftype in (0, 1) and flags & 0x1:
            ended = True
        if ended and not header_block:
            break
    h = dict(fields)
    code = int(h.get("grpc-status", "2"))
    if code != 0:
        raise RPCError(code, urllib.parse.unquote(h.get("grpc-message", "")))
    if len(data) < 5:
        return b""
    ln = int.from_bytes(data[1:5], "big")
    return data[5:5 + ln]


# ---- CRI calls ----------------------------------------------------------------------------------------

RUNTIME = "/runtime.v1.RuntimeService/"
IMAGES = "/runtime.v1.ImageService/"


def version(endpoint, timeout=5.0):
    m = pb_decode(call(endpoint, RUNTIME + "Version", pb_field(1, "v1"), timeout))
    return {"version": pb_str(m, 1), "runtimeName": pb_str(m, 2), "runtimeVersion": pb_str(m, 3),
            "runtimeApiVersion": pb_str(m, 4)}


def status(endpoint, verbose=False, timeout=5.0):
    """RuntimeService.Status: {'conditions': [{type, status, reason, message}], 'info': {...}}."""
    m = pb_decode(call(endpoint, RUNTIME + "Status", pb_field(1, True) if verbose else b"", timeout))
    conds = []
    for raw in (pb_decode(m[1][0]).get(1, []) if m.get(1) else []):
        c = pb_decode(raw)
        conds.append({"type": pb_str(c, 1), "status": bool(c.get(2, [0])[0]), "reason": pb_str(c, 3),
                      "message": pb_str(c, 4)})
    info = {}
    for raw in m.get(2, []):
        e = pb_decode(raw)
        info[pb_str(e, 1)] = pb_str(e, 2)
    return {"conditions": conds, "info": info}


def list_pod_sandboxes(endpoint, timeout=5.0):
    m = pb_decode(call(endpoint, RUNTIME + "ListPodSandbox", b"", timeout))
    out = []
    for raw in m.get(1, []):
        p = pb_decode(raw)
        meta = pb_decode(p[2][0]) if p.get(2) else {}
        out.append({"id": pb_str(p, 1), "name": pb_str(meta, 1), "namespace": pb_str(meta, 3),
                    "state": "SANDBOX_READY" if p.get(3, [1])[0] == 0 else "SANDBOX_NOTREADY"})
    return out


def list_containers(endpoint, timeout=5.0):
    m = pb_decode(call(endpoint, RUNTIME + "ListContainers", b"", timeout))
    out = []
    for raw in m.get(1, []):
        c = pb_decode(raw)
        meta = pb_decode(c[3][0]) if c.get(3) else {}
        out.append({"id": pb_str(c, 1), "podSandboxId": pb_str(c, 2), "name": pb_str(meta, 1)})
    return out


def list_images(endpoint, timeout=5.0):
    m = pb_decode(call(endpoint, IMAGES + "ListImages", b"", timeout))
    out = []
    for raw in m.get(1, []):
        i = pb_decode(raw)
        out.append({"id": pb_str(i, 1), "repoTags": [t.decode() for t in i.get(2, [])]})
    return out
