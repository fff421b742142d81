"""Kubernetes' protobuf wire format (application/vnd.kubernetes.protobuf), decoded to the JSON shape.

Typed clients send built-in objects as protobuf: the bytes "k8s\\0", then a runtime.Unknown holding the
object's apiVersion/kind and its message. The message schemas are the upstream ones: the repository builder
reads the FileDescriptorProtos that the real kubectl of the same release carries (gzipped, as the Go
protobuf registry keeps them) and ships their fields as kube/protoschema.json.

Schema: {message full name: {field number: [json name, type, message type name, repeated]}}, plus
"map entries" (messages that are map<key, value> entries).
"""
import base64
import datetime
import json
import os
import struct
import zipfile

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

T_DOUBLE, T_FLOAT, T_INT64, T_UINT64, T_INT32, T_FIXED64, T_FIXED32, T_BOOL, T_STRING = 1, 2, 3, 4, 5, 6, 7, 8, 9
T_MESSAGE, T_BYTES, T_UINT32, T_ENUM, T_SFIXED32, T_SFIXED64, T_SINT32, T_SINT64 = 11, 12, 13, 14, 15, 16, 17, 18
META = "k8s.io.apimachinery.pkg.apis.meta.v1."
# Go structs embedded with `json:",inline"`: a message field on the wire, their fields in the parent in JSON
INLINE = {"volumeSource", "persistentVolumeSource", "ephemeralContainerCommon", "localObjectReference",
          "ingressRuleValue"}


class DecodeError(ValueError):
    pass


def varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf):
    """(number, wire type, value) for each field: ints for varint/fixed, bytes for length-delimited."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise DecodeError("unsupported wire type %d" % wt)
        yield num, wt, v


# ---- descriptors (what the builder reads out of the kubectl binary) ---------------------------------------

def _message_fields(buf, prefix, out, maps):
    name, fields_, nested, is_map = "", [], [], False
    for num, _, v in fields(buf):
        if num == 1:
            name = v.decode()
        elif num == 2:
            fields_.append(v)
        elif num == 3:
            nested.append(v)
        elif num == 7:
            is_map = any(n == 7 and x for n, _, x in fields(v))
    full = prefix + "." + name
    table = {}
    for f in fields_:
        d = {n: v for n, _, v in fields(f)}
        table[str(d[3])] = [(d.get(10) or d[1]).decode(), d.get(5, 0), (d.get(6) or b"").decode().lstrip("."),
                            d.get(4) == 3]
    out[full] = table
    if is_map:
        maps.append(full)
    for n in nested:
        _message_fields(n, full, out, maps)


def schema_from_descriptors(descriptor_sets):
    """{"messages": ..., "map entries": [...]} from serialized FileDescriptorProtos."""
    out, maps = {}, []
    for fd in descriptor_sets:
        package = ""
        messages = []
        for num, _, v in fields(fd):
            if num == 2:
                package = v.decode()
            elif num == 4:
                messages.append(v)
        for m in messages:
            _message_fields(m, package, out, maps)
    return {"messages": out, "map entries": sorted(maps)}


# ---- decoding objects ------------------------------------------------------------------------------------

_schema = None


def schema():
    """The schema shipped beside this module (inside the zip application, or as a file in a checkout)."""
    global _schema
    if _schema is None:
        here = os.path.dirname(__file__)
        archive = os.path.dirname(here)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _schema = json.loads(z.read("kube/protoschema.json"))
        else:
            with open(os.environ.get("KUBE_PROTO_SCHEMA", os.path.join(here, "protoschema.json"))) as f:
                _schema = json.load(f)
        _schema["map entries"] = set(_schema["map entries"])
    return _schema


def _scalar(ftype, wt, v):
    if ftype == T_STRING:
        return v.decode("utf-8")
    if ftype == T_BYTES:
        return base64.b64encode(v).decode()
    if ftype == T_BOOL:
        return bool(v)
    if ftype in (T_INT64, T_INT32, T_ENUM):
        return v - (1 << 64) if v >= 1 << 63 else v
    if ftype in (T_SINT32, T_SINT64):
        return (v >> 1) ^ -(v & 1)
    if ftype == T_DOUBLE:
        return struct.unpack("<d", v)[0]
    if ftype == T_FLOAT:
        return struct.unpack("<f", v)[0]
    if ftype in (T_FIXED64, T_SFIXED64):
        return struct.unpack("<q" if ftype == T_SFIXED64 else "<Q", v)[0]
    if ftype in (T_FIXED32, T_SFIXED32):
        return struct.unpack("<i" if ftype == T_SFIXED32 else "<I", v)[0]
    return v


def _special(name, msg):
    """Types whose JSON form is not an object."""
    if name in (META + "Time", META + "MicroTime"):
        secs = msg.get("seconds", 0)
        if not secs and not msg.get("nanos"):
            return None
        t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
        if name.endswith("MicroTime"):
            return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (msg.get("nanos", 0) // 1000)
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return msg.get("string", "")
    if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        return msg.get("strVal", "") if msg.get("type") == 1 else msg.get("intVal", 0)
    if name in ("k8s.io.apimachinery.pkg.runtime.RawExtension", META + "FieldsV1"):
        raw = base64.b64decode(msg.get("Raw", msg.get("raw", "")) or "")
        return json.loads(raw) if raw else {}
    if name == META + "Duration":
        return "%gs" % (msg.get("duration", 0) / 1e9)
    return msg


def decode_message(buf, name, omit_empty=True):
    sch = schema()
    table = sch["messages"].get(name)
    if table is None:
        raise DecodeError("unknown message type %s" % name)
    out = {}
    for num, wt, v in fields(buf):
        spec = table.get(str(num))
        if spec is None:
            continue  # a field newer than this schema
        jname, ftype, tname, repeated = spec
        if ftype == T_MESSAGE:
            if tname in sch["map entries"]:
                entry = decode_message(v, tname, omit_empty=False)
                out.setdefault(jname, {})[entry.get("key", "")] = entry.get("value")
                continue
            value = _special(tname, decode_message(v, tname))
        elif wt == 2 and ftype not in (T_STRING, T_BYTES) and repeated:  # packed numbers
            vals, i = [], 0
            while i < len(v):
                x, i = varint(v, i)
                vals.append(_scalar(ftype, 0, x))
            out.setdefault(jname, []).extend(vals)
            continue
        else:
            value = _scalar(ftype, wt, v)
        if repeated:
            out.setdefault(jname, []).append(value)
        elif jname in INLINE and isinstance(value, dict):
            out.update(value)
        else:
            out[jname] = value
    return _omit_empty(out) if omit_empty else out


def _omit_empty(msg):
    """Go's JSON leaves out unset optional fields; the wire carries them as zero values."""
    return {k: v for k, v in msg.items() if v not in ("", 0, False, None) or isinstance(v, dict)}


def message_name(api_version, kind):
    """The protobuf message of a built-in kind: apps/v1 Deployment -> k8s.io.api.apps.v1.Deployment."""
    group, _, version = api_version.rpartition("/")
    messages = schema()["messages"]
    candidates = [n for n in messages if n.endswith("." + kind)]
    if group in ("", "core"):
        wanted = ["k8s.io.api.core.%s.%s" % (version, kind)]
    else:
        wanted = ["k8s.io.api.%s.%s.%s" % (group.split(".")[0], version, kind)]
    wanted.append(META + kind)   # DeleteOptions, Status, ...
    for w in wanted:
        if w in candidates:
            return w
    raise DecodeError("no protobuf message for %s %s" % (api_version, kind))


def decode_object(data):
    """An object sent as application/vnd.kubernetes.protobuf, as the JSON the same object would be."""
    if not data.startswith(MAGIC):
        raise DecodeError("provided data does not appear to be a protobuf message, expected prefix "
                          "[107 56 115 0]")
    unknown = {n: v for n, _, v in fields(data[len(MAGIC):])}
    type_meta = {n: v.decode() for n, _, v in fields(unknown.get(1, b""))}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    obj = decode_message(unknown.get(2, b""), message_name(api_version, kind))
    out = {"apiVersion": api_version, "kind": kind}
    out.update(obj)
    return out


# ---- strict field validation -----------------------------------------------------------------------------

_OPAQUE = {META + "Time", META + "MicroTime", META + "FieldsV1", META + "Duration",
           "k8s.io.apimachinery.pkg.api.resource.Quantity", "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
           "k8s.io.apimachinery.pkg.runtime.RawExtension"}


def unknown_fields(obj, name, path=""):
    """JSON paths of the fields of obj that its message type does not have, as the server's strict decoding
    names them ("spec.template.spec.containers[0].imagePullPolcy")."""
    sch = schema()
    table = sch["messages"].get(name)
    if table is None or name in _OPAQUE or not isinstance(obj, dict):
        return []
    by_json = {}
    for spec in table.values():
        if spec[0] in INLINE and spec[1] == T_MESSAGE:
            by_json.update({s[0]: s for s in sch["messages"].get(spec[2], {}).values()})
        else:
            by_json[spec[0]] = spec
    found = []
    for key, value in obj.items():
        here = "%s.%s" % (path, key) if path else key
        spec = by_json.get(key)
        if spec is None:
            if not path and key in ("apiVersion", "kind"):
                continue
            found.append(here)
            continue
        _, ftype, tname, repeated = spec
        if ftype != T_MESSAGE or tname in _OPAQUE:
            continue
        if tname in sch["map entries"]:
            value_spec = sch["messages"][tname].get("2")
            if value_spec and value_spec[1] == T_MESSAGE and isinstance(value, dict):
                for k, v in value.items():
                    found += unknown_fields(v, value_spec[2], "%s.%s" % (here, k))
        elif repeated and isinstance(value, list):
            for i, item in enumerate(value):
                found += unknown_fields(item, tname, "%s[%d]" % (here, i))
        else:
            found += unknown_fields(value, tname, here)
    return found
