"""Small helpers shared by all programs: flags, durations, times, files, klog-style logging."""
import ctypes
import datetime
import os
import re
import sys
import tempfile
import time


class UsageError(Exception):
    """A command-line problem; printed as `Error: ...` (cobra style)."""


def set_process_name(name):
    """Show the program's name in ps/pgrep instead of python3, as the real binaries do."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass


def klog(level, msg, out=None):
    """One log line in klog's format: `E1127 08:22:33.123456    1234 file.go:10] msg`."""
    now = datetime.datetime.now()
    line = "%s%s %s.%06d %7d %s] %s\n" % (level, now.strftime("%m%d"), now.strftime("%H:%M:%S"),
                                          now.microsecond, os.getpid(), "standin.go:1", msg)
    (out or sys.stderr).write(line)
    (out or sys.stderr).flush()


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def rfc3339(t=None):
    t = t or now_utc()
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def age(ts):
    """kubectl's short age: 5s, 3m12s, 7h, 2d."""
    secs = int((now_utc() - parse_rfc3339(ts)).total_seconds()) if ts else 0
    secs = max(secs, 0)
    if secs < 120:
        return "%ds" % secs
    mins = secs // 60
    if mins < 10:
        return "%dm%ds" % (mins, secs % 60)
    if mins < 180:
        return "%dm" % mins
    hours = mins // 60
    if hours < 48:
        return "%dh" % hours
    return "%dd" % (hours // 24)


_DUR = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text):
    """Go time.ParseDuration: '24h0m0s', '90s', '1m30s', '0' -> seconds (float)."""
    text = str(text).strip()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for m in _DUR.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError('time: invalid duration "%s"' % text)
    return total


def format_duration(seconds):
    """Go's Duration.String for whole seconds: 24h0m0s, 4m0s, 10s."""
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return "%dh%dm%ds" % (h, m, s)
    if m:
        return "%dm%ds" % (m, s)
    return "%ds" % s


def write_file(path, data, mode=0o600):
    """Write atomically (temp file + rename) so readers never see half a file."""
    if isinstance(data, str):
        data = data.encode()
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_text(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def yaml_load_all(text):
    import yaml
    return [d for d in yaml.safe_load_all(text) if d is not None]


def yaml_dump(obj):
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def str_presenter(dumper, data):
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, str_presenter)
    return yaml.dump(obj, Dumper=Dumper, default_flow_style=False, sort_keys=False)


class Flags:
    """A pflag-like parser: --name=value, --name value, -n value, bools without value, `--` ends flags.

    spec: {name: default}; the default's type decides parsing (bool, int, float, str, list for repeatable).
    """

    def __init__(self, spec, short=None):
        self.spec = dict(spec)
        self.short = dict(short or {})
        self.values = {k: (list(v) if isinstance(v, list) else v) for k, v in self.spec.items()}
        self.changed = []
        self.args = []

    def parse(self, argv):
        argv = list(argv)
        i = 0
        while i < len(argv):
            a = argv[i]
            i += 1
            if a == "--":
                self.args.extend(argv[i:])
                break
            if a.startswith("--") and len(a) > 2:
                name, eq, value = a[2:].partition("=")
                if name not in self.spec:
                    raise UsageError("unknown flag: --%s" % name)
            elif a.startswith("-") and len(a) > 1 and a != "-":
                key, rest = a[1], a[2:]
                if key not in self.short:
                    raise UsageError("unknown shorthand flag: '%s' in %s" % (key, a))
                name = self.short[key]
                eq = "=" if rest else ""
                value = rest[1:] if rest.startswith("=") else rest
            else:
                self.args.append(a)
                continue
            default = self.spec[name]
            if isinstance(default, bool):
                if eq:
                    if value not in ("true", "false", "1", "0"):
                        raise UsageError('invalid argument "%s" for "--%s" flag: strconv.ParseBool: '
                                         'parsing "%s": invalid syntax' % (value, name, value))
                    val = value in ("true", "1")
                else:
                    val = True
            else:
                if not eq:
                    if i >= len(argv):
                        raise UsageError("flag needs an argument: --%s" % name)
                    value = argv[i]
                    i += 1
                if isinstance(default, list):
                    val = self.values[name] + [v for v in value.split(",") if v]
                elif isinstance(default, int):
                    try:
                        val = int(value)
                    except ValueError:
                        raise UsageError('invalid argument "%s" for "--%s" flag: strconv.ParseInt: '
                                         'parsing "%s": invalid syntax' % (value, name, value))
                else:
                    val = value
            self.values[name] = val
            if name not in self.changed:
                self.changed.append(name)
        return self

    def __getitem__(self, name):
        return self.values[name]


def which(prog):
    for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":"):
        p = os.path.join(d, prog)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def wait_until(pred, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        r = pred()
        if r:
            return r
        if time.monotonic() >= deadline:
            return r
        time.sleep(interval)
