"""flannel: flannel's CNI plugin (/opt/cni/bin/flannel), which the flannel conflist names. As the real one does, it
reads what flanneld wrote to /run/flannel/subnet.env and delegates to the bridge plugin with host-local addresses
of the node's subnet (Debian's real plugins, found in CNI_PATH): ADD saves the delegate's configuration under
/var/lib/cni/flannel/<container id>, DEL hands that same configuration to the delegate and removes it.
"""
import ipaddress
import json
import os
import subprocess
import sys

SUBNET_ENV = "/run/flannel/subnet.env"
DATA_DIR = "/var/lib/cni/flannel"
VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def fail(code, msg, details="", version="1.0.0"):
    sys.stdout.write(json.dumps({"cniVersion": version, "code": code, "msg": msg, "details": details}))
    return 1


def subnet_env():
    values = {}
    with open(SUBNET_ENV) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            values[key] = value
    return values


def delegate_config(conf, env):
    """The bridge plugin's configuration, with flannel's defaults (the real plugin's)."""
    delegate = dict(conf.get("delegate") or {})
    delegate.setdefault("name", conf.get("name"))
    delegate.setdefault("type", "bridge")
    delegate.setdefault("cniVersion", conf.get("cniVersion", "0.3.1"))
    if delegate["type"] == "bridge":
        delegate.setdefault("isGateway", True)
    if env.get("FLANNEL_IPMASQ") != "true":
        delegate.setdefault("ipMasq", True)
    delegate.setdefault("mtu", int(env["FLANNEL_MTU"]))
    subnet = str(ipaddress.ip_interface(env["FLANNEL_SUBNET"]).network)   # 10.244.2.1/24 is 10.244.2.0/24
    delegate["ipam"] = {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                        "routes": [{"dst": env["FLANNEL_NETWORK"]}]}
    for key in ("runtimeConfig", "args"):
        if key in conf:
            delegate[key] = conf[key]
    return delegate


def delegate(config, env_overrides=None):
    plugin = next((os.path.join(d, config["type"]) for d in os.environ.get("CNI_PATH", "").split(":")
                   if os.path.isfile(os.path.join(d, config["type"]))), None)
    if plugin is None:
        raise LookupError("failed to find plugin %r in path %s" % (config["type"], os.environ.get("CNI_PATH", "")))
    return subprocess.run([plugin], input=json.dumps(config), capture_output=True, text=True,
                          env=dict(os.environ, **(env_overrides or {})))


def main(argv):
    command = os.environ.get("CNI_COMMAND", "")
    if command == "VERSION":
        sys.stdout.write(json.dumps({"cniVersion": "1.0.0", "supportedVersions": VERSIONS}))
        return 0
    conf = json.loads(sys.stdin.read() or "{}")
    version = conf.get("cniVersion", "0.3.1")
    saved = os.path.join(DATA_DIR, os.environ.get("CNI_CONTAINERID", ""))
    try:
        if command == "ADD":
            try:
                config = delegate_config(conf, subnet_env())
            except (OSError, KeyError) as e:
                return fail(11, "failed to load flannel 'subnet.env' file: %s. Check the flannel pod's logs" % e,
                            version=version)
            os.makedirs(DATA_DIR, exist_ok=True)
            with open(saved, "w") as f:
                json.dump(config, f)
        elif command in ("DEL", "CHECK"):
            try:
                with open(saved) as f:
                    config = json.load(f)
            except OSError:
                return 0 if command == "DEL" else fail(11, "no saved configuration of %s" % saved, version=version)
        else:
            return fail(4, "unknown CNI_COMMAND %r" % command, version=version)
        done = delegate(config)
    except LookupError as e:
        return fail(11, str(e), version=version)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if command == "DEL" and done.returncode == 0:
        os.unlink(saved)
    return done.returncode
