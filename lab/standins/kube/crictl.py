"""crictl: talks CRI to the container runtime (version, info, ps, pods, images)."""
import datetime
import json
import os
import sys

from kube import cri, util

DEFAULT_ENDPOINTS = ["unix:///run/containerd/containerd.sock", "unix:///run/crio/crio.sock",
                     "unix:///var/run/cri-dockerd.sock"]


def fatal(msg):
    if sys.stderr.isatty():
        sys.stderr.write("FATA[0000] %s \n" % msg)
    else:
        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        sys.stderr.write('time="%s" level=fatal msg="%s"\n' % (now, msg.replace('"', '\\"')))
    return 1


def endpoint(flags):
    if flags["runtime-endpoint"]:
        return flags["runtime-endpoint"]
    if os.environ.get("CONTAINER_RUNTIME_ENDPOINT"):
        return os.environ["CONTAINER_RUNTIME_ENDPOINT"]
    cfg = util.read_text(flags["config"] or "/etc/crictl.yaml")
    if cfg:
        for line in cfg.splitlines():
            if line.strip().startswith("runtime-endpoint:"):
                return line.split(":", 1)[1].strip().strip('"')
    sys.stderr.write("WARN[0000] runtime connect using default endpoints: [%s]. As the default settings are now "
                     "deprecated, you should set the endpoint instead. \n" % " ".join(DEFAULT_ENDPOINTS))
    return DEFAULT_ENDPOINTS[0]


def main(argv):
    from kube.version import CRICTL_VERSION
    f = util.Flags({"runtime-endpoint": "", "image-endpoint": "", "config": "", "timeout": "2s", "debug": False,
                    "quiet": False, "all": False, "output": "", "version": False, "help": False},
                   short={"r": "runtime-endpoint", "i": "image-endpoint", "c": "config", "t": "timeout", "D": "debug",
                          "q": "quiet", "a": "all", "o": "output", "v": "version", "h": "help"})
    try:
        f.parse(argv)
    except util.UsageError as e:
        return fatal(str(e))
    if f["version"]:
        print("crictl version %s" % CRICTL_VERSION)
        return 0
    cmd = f.args[0] if f.args else ""
    if not cmd:
        print("NAME:\n   crictl - client for CRI\n\nUSAGE:\n   crictl [global options] command [command options]")
        return 0
    ep = endpoint(f)
    timeout = util.parse_duration(f["timeout"]) or 2
    try:
        v = cri.version(ep, timeout=timeout)
    except cri.RPCError as e:
        return fatal('validate service connection: validate CRI v1 runtime API for endpoint "%s": %s' % (ep, e))
    try:
        if cmd == "version":
            print("Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s" % (
                v["version"], v["runtimeName"], v["runtimeVersion"], v["runtimeApiVersion"]))
        elif cmd == "info":
            st = cri.status(ep, verbose=True, timeout=timeout)
            data = {"status": {"conditions": st["conditions"]}}
            for k, val in st["info"].items():
                try:
                    data[k] = json.loads(val)
                except ValueError:
                    data[k] = val
            print(json.dumps(data, indent=2))
        elif cmd in ("pods", "ps", "images"):
            lister = {"pods": cri.list_pod_sandboxes, "ps": cri.list_containers, "images": cri.list_images}[cmd]
            items = lister(ep, timeout)
            if f["quiet"]:
                for i in items:
                    print(i["id"])
            else:
                columns = {"pods": ["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"],
                           "ps": ["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"],
                           "images": ["IMAGE", "TAG", "IMAGE ID", "SIZE"]}[cmd]
                header = "".join(c.ljust(20) for c in columns[:-1]) + columns[-1]
                print(header)
                for i in items:
                    print("%-19s %s" % (i["id"][:13], i.get("name") or ",".join(i.get("repoTags", []))))
        elif cmd in ("stopp", "rmp", "stop", "rm"):
            for pid in f.args[1:]:
                print(pid)
        else:
            return fatal('No help topic for \'%s\'' % cmd)
    except cri.RPCError as e:
        return fatal(str(e))
    return 0
