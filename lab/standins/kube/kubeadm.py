"""kubeadm: init, join, reset, token, version, config images — the parts an installer drives (upgrade:
kubeadm_upgrade.py)."""
import base64
import ipaddress
import json
import os
import random
import shutil
import socket
import string
import subprocess
import sys
import time
import urllib.request

from kube import client as kclient
from kube import common, cri, pki, rules, util
from kube import images as image_store
from kube.apiserver import jws_detached
from kube.version import VERSION

STACK_HINT = "To see the stack trace of this error execute with --v=5 or higher"
DEFAULT_TOKEN_GROUPS = "system:bootstrappers:kubeadm:default-node-token"
TOKEN_FORM = '"\\\\A([a-z0-9]{6})\\\\.([a-z0-9]{16})\\\\z"'   # as kubeadm prints its regexp
CSR_ROLE = "system:certificates.k8s.io:certificatesigningrequests:"
CONFIG_ALLOWED_INIT = {"config", "ignore-preflight-errors", "dry-run", "skip-phases", "skip-token-print",
                       "upload-certs", "certificate-key", "v", "rootfs", "patches"}
CONFIG_ALLOWED_JOIN = {"config", "ignore-preflight-errors", "dry-run", "skip-phases", "v", "rootfs", "patches",
                       "certificate-key"}


class PhaseError(Exception):
    def __init__(self, phase, msg):
        super().__init__(msg)
        self.phase = phase
        self.msg = msg


def out(msg=""):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def err(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def timeout_from(env, config_value, default):
    """Timeouts come from kubeadm's config (timeouts.* / discovery.timeout), or from the environment."""
    if os.environ.get(env):
        return util.parse_duration(os.environ[env])
    if config_value:
        return util.parse_duration(config_value)
    return default


# ---- preflight ---------------------------------------------------------------------------------------------

class Checks:
    def __init__(self, ignored):
        self.ignored = {i.lower() for i in ignored}
        self.errors = []
        self.warnings = []

    def add(self, name, message, error=True):
        if error and ("all" in self.ignored or name.lower() in self.ignored):
            error = False
        (self.errors if error else self.warnings).append("[%s %s]: %s" % ("ERROR" if error else "WARNING", name,
                                                                          message))

    def finish(self):
        for w in self.warnings:
            err("\t" + w)
        if self.errors:
            raise PhaseError("preflight", "[preflight] Some fatal errors occurred:\n%s\n[preflight] If you know what "
                             "you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`"
                             % "\n".join("\t" + e for e in self.errors))


def root_check(ignored):
    c = Checks(ignored)
    if os.geteuid() != 0:
        c.add("IsPrivilegedUser", "user is not running as root")
    c.finish()


def port_free(port):
    s = socket.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if s.family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", port))
        else:
            s.bind(("0.0.0.0", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def common_checks(c, cri_socket, k8s_version):
    p = subprocess.run(["crictl", "-r", cri_socket, "info"], capture_output=True, text=True) \
        if util.which("crictl") else None
    if p is None:
        c.add("CRI", 'crictl is required for container runtime: exec: "crictl": executable file not found in $PATH')
    elif p.returncode != 0:
        c.add("CRI", "container runtime is not running: output: %s, error: exit status %d" % (p.stdout + p.stderr,
                                                                                             p.returncode))
    cgroup_v1 = rules.kubeadm_cgroup_v1_error()
    if cgroup_v1 and rules.is_cgroup_v1():
        c.add("SystemVerification", cgroup_v1)
    if common.swap_devices():
        c.add("Swap", "swap is supported for cgroup v2 only; the NodeSwap feature gate of the kubelet is beta but "
                      "disabled by default", error=False)
    for exe, mandatory in (("conntrack", True), ("ip", True), ("iptables", True), ("mount", True), ("nsenter", True),
                           ("ebtables", False), ("ethtool", False), ("socat", False), ("tc", False), ("touch", False)):
        if not util.which(exe):
            c.add("FileExisting-" + exe, "%s not found in system path" % exe, error=mandatory)
    name = common.hostname()
    try:
        socket.gethostbyname(name)
    except OSError as e:
        c.add("Hostname", 'hostname "%s" could not be reached' % name, error=False)
        c.add("Hostname", 'hostname "%s": lookup %s: %s' % (name, name, e), error=False)
    kv = subprocess.run(["kubelet", "--version"], capture_output=True, text=True) if util.which("kubelet") else None
    if kv is None or kv.returncode != 0:
        c.add("KubeletVersion", "couldn't get kubelet version: cannot execute 'kubelet --version': executable file "
                                "not found in $PATH")
    elif k8s_version:
        kubelet_v = kv.stdout.strip().split()[-1].lstrip("v")
        want = k8s_version.lstrip("v")
        if tuple(map(int, kubelet_v.split(".")[:2])) > tuple(map(int, want.split(".")[:2])):
            c.add("KubeletVersion", 'the kubelet version is higher than the control plane version. This is not a '
                                    'supported version skew and may lead to a malfunctional cluster. Kubelet version: '
                                    '"%s" Control plane version: "%s"' % (kubelet_v, want))
    enabled = subprocess.run(["systemctl", "is-enabled", "kubelet.service"], capture_output=True, text=True)
    if enabled.stdout.strip() != "enabled":
        c.add("Service-Kubelet", "kubelet service is not enabled, please run 'systemctl enable kubelet.service'",
              error=False)
    if not port_free(10250):
        c.add("Port-10250", "Port 10250 is in use")
    fwd = util.read_text("/proc/sys/net/ipv4/ip_forward")
    if fwd is None:
        c.add("FileContent--proc-sys-net-ipv4-ip_forward", "/proc/sys/net/ipv4/ip_forward does not exist")
    elif fwd[:1] != "1":
        c.add("FileContent--proc-sys-net-ipv4-ip_forward", "/proc/sys/net/ipv4/ip_forward contents are not set to 1")


def control_plane_checks(c, bind_port):
    """What a node about to run a control plane must have free (init, and a control-plane join)."""
    for port in (bind_port, 10259, 10257):
        if not port_free(port):
            c.add("Port-%d" % port, "Port %d is in use" % port)
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        file_available(c, os.path.join(common.MANIFESTS_DIR, comp + ".yaml"))


def dir_available(c, path):
    if os.path.isdir(path) and os.listdir(path):
        c.add("DirAvailable-" + path.replace("/", "-"), "%s is not empty" % path)


def file_available(c, path):
    if os.path.exists(path):
        c.add("FileAvailable-" + path.replace("/", "-"), "%s already exists" % path)


# ---- configuration -------------------------------------------------------------------------------------

def load_config_docs(path):
    text = util.read_text(path)
    if text is None:
        raise PhaseError(None, "unable to read config from \"%s\" : open %s: no such file or directory" % (path, path))
    docs = {}
    for d in util.yaml_load_all(text):
        docs[d.get("kind")] = d
    return docs


def extra_args(section):
    """v1beta3 extraArgs is a map, v1beta4 a list of {name, value}."""
    ea = (section or {}).get("extraArgs") or {}
    if isinstance(ea, list):
        return {a["name"]: str(a.get("value", "")) for a in ea}
    return {k: str(v) for k, v in ea.items()}


def check_config_mix(flags, allowed):
    if flags["config"]:
        bad = sorted(f for f in flags.changed if f not in allowed)
        if bad:
            raise PhaseError(None, "can not mix '--config' with arguments %s" % ("[" + " ".join(bad) + "]"))


def resolve_version(requested):
    """--kubernetes-version: labels like stable-1 would need the internet; fall back like kubeadm does."""
    if not requested or requested.startswith("stable") or requested == "latest":
        label = requested or "stable-1"
        try:
            socket.setdefaulttimeout(3)
            urllib.request.urlopen("https://dl.k8s.io/release/%s.txt" % label, timeout=3)
            reason = "unexpected response"
        except Exception as e:
            url = "https://dl.k8s.io/release/%s.txt" % label
            reason = 'unable to get URL "%s": Get "%s": %s' % (url, url, getattr(e, "reason", e))
        finally:
            socket.setdefaulttimeout(None)
        util.klog("W", "could not fetch a Kubernetes version from the internet: %s" % reason)
        util.klog("W", "falling back to the local client version: v%s" % VERSION)
        return "v" + VERSION
    v = requested if requested.startswith("v") else "v" + requested
    try:
        major, minor, patch = (int(x) for x in v[1:].split("-")[0].split("."))
    except ValueError:
        raise PhaseError(None, 'couldn\'t parse Kubernetes version "%s"' % requested)
    kmaj, kmin = (int(x) for x in VERSION.split(".")[:2])
    if (major, minor) < (kmaj, kmin - 1):
        raise PhaseError(None, "this version of kubeadm only supports deploying clusters with the control plane "
                               "version >= %d.%d.0. Current version: %s" % (kmaj, kmin - 1, v))
    return v


def generate_token():
    chars = string.ascii_lowercase + string.digits
    return "%s.%s" % ("".join(random.SystemRandom().choice(chars) for _ in range(6)),
                      "".join(random.SystemRandom().choice(chars) for _ in range(16)))


def token_secret(token, ttl_seconds, description, groups=DEFAULT_TOKEN_GROUPS,
                 usages=("signing", "authentication")):
    tid, sec = token.split(".")
    data = {"token-id": tid, "token-secret": sec, "description": description,
            "auth-extra-groups": groups}
    for u in usages:
        data["usage-bootstrap-" + u] = "true"
    if ttl_seconds:
        data["expiration"] = util.rfc3339(util.now_utc() + __import__("datetime").timedelta(seconds=ttl_seconds))
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": "bootstrap-token-" + tid, "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def valid_token(token):
    import re
    return bool(re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token or ""))


def kubelet_config(user_cfg, dns_ip, domain, cgroup_driver="systemd"):
    cfg = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"cacheTTL": "0s", "enabled": True},
                           "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
        "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s"}},
        "cgroupDriver": cgroup_driver, "clusterDNS": [dns_ip], "clusterDomain": domain,
        "containerRuntimeEndpoint": "", "cpuManagerReconcilePeriod": "0s",
        "evictionPressureTransitionPeriod": "0s", "fileCheckFrequency": "0s", "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248, "httpCheckFrequency": "0s", "imageMaximumGCAge": "0s", "imageMinimumGCAge": "0s",
        "logging": {"flushFrequency": 0, "options": {"json": {"infoBufferSize": "0"},
                                                     "text": {"infoBufferSize": "0"}}, "verbosity": 0},
        "memorySwap": {}, "nodeStatusReportFrequency": "0s", "nodeStatusUpdateFrequency": "0s",
        "rotateCertificates": True, "runtimeRequestTimeout": "0s", "shutdownGracePeriod": "0s",
        "shutdownGracePeriodCriticalPods": "0s", "staticPodPath": common.MANIFESTS_DIR,
        "streamingConnectionIdleTimeout": "0s", "syncFrequency": "0s", "volumeStatsAggPeriod": "0s",
    }
    for k, v in (user_cfg or {}).items():
        if k not in ("apiVersion", "kind"):
            cfg[k] = v
    return cfg


def kubelet_flags_env(cri_socket, node_name, extra):
    args = ["--container-runtime-endpoint=" + cri_socket, "--pod-infra-container-image=" + common.PAUSE_IMAGE]
    if node_name != common.hostname():
        args.append("--hostname-override=" + node_name)
    for k, v in sorted(extra.items()):
        args.append("--%s=%s" % (k, v))
    return 'KUBELET_KUBEADM_ARGS="%s"\n' % " ".join(args)


def wait_kubelet_healthy(timeout):
    out("[kubelet-check] Waiting for a healthy kubelet at http://127.0.0.1:10248/healthz. This can take up to %s"
        % util.format_duration(timeout))
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen("http://127.0.0.1:10248/healthz", timeout=2) as r:
                if r.status == 200:
                    out("[kubelet-check] The kubelet is healthy after %.9fs" % (time.monotonic() - start))
                    return
        except Exception as e:
            last = 'Get "http://127.0.0.1:10248/healthz": dial tcp 127.0.0.1:10248: connect: connection refused' \
                if "refused" in str(e) else 'Get "http://127.0.0.1:10248/healthz": %s' % e
        time.sleep(0.5)
    out("[kubelet-check] The kubelet is not healthy after %.9fs" % (time.monotonic() - start))
    out("")
    out("Unfortunately, an error has occurred:")
    out("\tThe HTTP call equal to 'curl -sSL http://127.0.0.1:10248/healthz' failed with error: %s" % last)
    out("")
    out("")
    out("This error is likely caused by:")
    out("\t- The kubelet is not running")
    out("\t- The kubelet is unhealthy due to a misconfiguration of the node in some way (required cgroups disabled)")
    out("")
    out("If you are on a systemd-powered system, you can try to troubleshoot the error with the following commands:")
    out("\t- 'systemctl status kubelet'")
    out("\t- 'journalctl -xeu kubelet'")
    out("")
    raise PhaseError("kubelet-check", "The HTTP call equal to 'curl -sSL http://127.0.0.1:10248/healthz' failed "
                                      "with error: %s" % last)


def pull_images(ignored, wanted):
    """kubeadm's ImagePull preflight: each image the node will run, pulled (kube/images.py)."""
    c = Checks(ignored)
    for image in wanted:
        try:
            image_store.pull(image)
        except image_store.PullError as e:
            c.add("ImagePull", 'failed to pull image %s: failed to pull image "%s": %s' % (image, image, e))
    c.finish()


def control_plane_fault():
    """The lab's fault (common.CONTROL_PLANE_FAULT): how long this init waits for a control plane that fails, or
    None."""
    try:
        with open(common.CONTROL_PLANE_FAULT) as f:
            return util.parse_duration(f.read().strip() or "5s")
    except FileNotFoundError:
        return None


def restart_kubelet():
    subprocess.run(["systemctl", "daemon-reload"], capture_output=True)
    subprocess.run(["systemctl", "restart", "kubelet"], capture_output=True)


def api_ready(api):
    try:
        api.request("GET", "/healthz", timeout=3)
        return True
    except (kclient.ApiError, kclient.ConnectError, OSError):
        return False


# ---- init -----------------------------------------------------------------------------------------------

def apiserver_sans(node_name, advertise, svc_cidr, domain, endpoint, extra):
    """(DNS names, IPs) of the API server's serving certificate: kubeadm's, the endpoint's host and certSANs."""
    svc_net = ipaddress.ip_network(svc_cidr.split(",")[0], strict=False)
    dns_names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + domain,
                 node_name]
    ips = [str(svc_net.network_address + 1), advertise]
    sans = list(extra)
    ep_host = endpoint.rsplit(":", 1)[0].strip("[]") if endpoint else ""
    if ep_host:
        sans.append(ep_host)
    for s in sans:
        if pki.is_ip(s):
            if s not in ips:
                ips.append(s)
        elif s not in dns_names:
            dns_names.append(s)
    return dns_names, ips


def leaf_certs(pki_dir, node_name, advertise, dns_names, ips):
    """A control-plane node's own certificates, signed by the cluster's CAs (in pki_dir): init's and a
    control-plane join's."""
    def ca(name):
        return (util.read_text(os.path.join(pki_dir, name + ".crt")).encode(),
                util.read_text(os.path.join(pki_dir, name + ".key")).encode())

    def issue(name, signer, cn, orgs=(), note=None, **kinds):
        out('[certs] Generating "%s" certificate and key' % name)
        if note:
            out(note)
        cert, key = pki.sign(*ca(signer), cn, list(orgs), **kinds)
        util.write_file(os.path.join(pki_dir, name + ".crt"), cert, 0o644)
        util.write_file(os.path.join(pki_dir, name + ".key"), key, 0o600)

    issue("apiserver", "ca", "kube-apiserver", dns=dns_names, ips=ips, server=True,
          note="[certs] apiserver serving cert is signed for DNS names [%s] and IPs [%s]" % (" ".join(dns_names),
                                                                                           " ".join(ips)))
    issue("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client", ["kubeadm:cluster-admins"], client=True)
    issue("front-proxy-client", "front-proxy-ca", "front-proxy-client", client=True)
    for n in ("etcd/server", "etcd/peer"):
        issue(n, "etcd/ca", node_name, dns=[node_name, "localhost"], ips=[advertise, "127.0.0.1", "::1"],
              server=True, client=True, note="[certs] %s serving cert is signed for DNS names [%s localhost] and "
              "IPs [%s 127.0.0.1 ::1]" % (n, node_name, advertise))
    issue("etcd/healthcheck-client", "etcd/ca", "kube-etcd-healthcheck-client", client=True)
    issue("apiserver-etcd-client", "etcd/ca", "kube-apiserver-etcd-client", client=True)


def write_etcd_manifest(node_name, advertise, repo, initial_cluster=None):
    """The local etcd member's static pod: a new cluster of one (init), or a member joining the cluster whose
    members initial_cluster names (a control-plane join: initial-cluster-state existing)."""
    etcd_cmd = ["etcd", "--advertise-client-urls=https://%s:2379" % advertise,
                "--cert-file=/etc/kubernetes/pki/etcd/server.crt", "--client-cert-auth=true",
                "--data-dir=/var/lib/etcd", "--experimental-initial-corrupt-check=true",
                "--experimental-watch-progress-notify-interval=5s",
                "--initial-advertise-peer-urls=https://%s:2380" % advertise,
                "--initial-cluster=%s" % (initial_cluster or "%s=https://%s:2380" % (node_name, advertise))]
    if initial_cluster:
        etcd_cmd.append("--initial-cluster-state=existing")
    etcd_cmd += ["--key-file=/etc/kubernetes/pki/etcd/server.key",
                 "--listen-client-urls=https://127.0.0.1:2379,https://%s:2379" % advertise,
                 "--listen-metrics-urls=http://127.0.0.1:2381", "--listen-peer-urls=https://%s:2380" % advertise,
                 "--name=%s" % node_name, "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
                 "--peer-client-cert-auth=true", "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
                 "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt", "--snapshot-count=10000",
                 "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt"]
    util.write_file(os.path.join(common.MANIFESTS_DIR, "etcd.yaml"), manifest(
        "etcd", "%s/etcd:%s" % (repo, common.ETCD_VERSION), etcd_cmd,
        [("etcd-certs", "/etc/kubernetes/pki/etcd", False), ("etcd-data", "/var/lib/etcd", False)],
        {"kubeadm.kubernetes.io/etcd.advertise-client-urls": "https://%s:2379" % advertise},
        probe_port=2381, probe_scheme="HTTP"), 0o600)


def write_control_plane_manifests(advertise, bind_port, clusc):
    """kube-apiserver, kube-controller-manager and kube-scheduler as static pods (init, control-plane join), from
    the cluster's configuration (its networking, image repository, version, extraArgs)."""
    net = clusc.get("networking") or {}
    svc_cidr = net.get("serviceSubnet") or "10.96.0.0/12"
    pod_cidr = net.get("podSubnet") or ""
    domain = net.get("dnsDomain") or "cluster.local"
    repo = clusc.get("imageRepository") or "registry.k8s.io"
    version = clusc.get("kubernetesVersion") or "v" + VERSION
    cluster = clusc.get("clusterName") or "kubernetes"
    out('[control-plane] Using manifest folder "%s"' % common.MANIFESTS_DIR)
    out('[control-plane] Creating static Pod manifest for "kube-apiserver"')
    api_flags = {"advertise-address": advertise, "allow-privileged": "true", "authorization-mode": "Node,RBAC",
                 "client-ca-file": "/etc/kubernetes/pki/ca.crt", "enable-admission-plugins": "NodeRestriction",
                 "enable-bootstrap-token-auth": "true", "etcd-cafile": "/etc/kubernetes/pki/etcd/ca.crt",
                 "etcd-certfile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
                 "etcd-keyfile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
                 "etcd-servers": "https://127.0.0.1:2379",
                 "kubelet-client-certificate": "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
                 "kubelet-client-key": "/etc/kubernetes/pki/apiserver-kubelet-client.key",
                 "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
                 "proxy-client-cert-file": "/etc/kubernetes/pki/front-proxy-client.crt",
                 "proxy-client-key-file": "/etc/kubernetes/pki/front-proxy-client.key",
                 "requestheader-allowed-names": "front-proxy-client",
                 "requestheader-client-ca-file": "/etc/kubernetes/pki/front-proxy-ca.crt",
                 "requestheader-extra-headers-prefix": "X-Remote-Extra-",
                 "requestheader-group-headers": "X-Remote-Group", "requestheader-username-headers": "X-Remote-User",
                 "secure-port": str(bind_port), "service-account-issuer": "https://kubernetes.default.svc." + domain,
                 "service-account-key-file": "/etc/kubernetes/pki/sa.pub",
                 "service-account-signing-key-file": "/etc/kubernetes/pki/sa.key",
                 "service-cluster-ip-range": svc_cidr, "tls-cert-file": "/etc/kubernetes/pki/apiserver.crt",
                 "tls-private-key-file": "/etc/kubernetes/pki/apiserver.key"}
    certs_vols = [("ca-certs", "/etc/ssl/certs", True), ("etc-ca-certificates", "/etc/ca-certificates", True),
                  ("k8s-certs", "/etc/kubernetes/pki", True)]
    util.write_file(os.path.join(common.MANIFESTS_DIR, "kube-apiserver.yaml"), manifest(
        "kube-apiserver", "%s/kube-apiserver:%s" % (repo, version),
        ["kube-apiserver"] + flag_list(api_flags, extra_args(clusc.get("apiServer"))), certs_vols,
        {"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": "%s:%d" % (advertise, bind_port)},
        probe_port=bind_port, probe_host=advertise), 0o600)
    out('[control-plane] Creating static Pod manifest for "kube-controller-manager"')
    cm_flags = {"authentication-kubeconfig": "/etc/kubernetes/controller-manager.conf",
                "authorization-kubeconfig": "/etc/kubernetes/controller-manager.conf", "bind-address": "127.0.0.1",
                "client-ca-file": "/etc/kubernetes/pki/ca.crt", "cluster-name": cluster,
                "cluster-signing-cert-file": "/etc/kubernetes/pki/ca.crt",
                "cluster-signing-key-file": "/etc/kubernetes/pki/ca.key",
                "controllers": "*,bootstrapsigner,tokencleaner",
                "kubeconfig": "/etc/kubernetes/controller-manager.conf", "leader-elect": "true",
                "requestheader-client-ca-file": "/etc/kubernetes/pki/front-proxy-ca.crt",
                "root-ca-file": "/etc/kubernetes/pki/ca.crt",
                "service-account-private-key-file": "/etc/kubernetes/pki/sa.key",
                "use-service-account-credentials": "true"}
    if pod_cidr:
        cm_flags.update({"allocate-node-cidrs": "true", "cluster-cidr": pod_cidr, "service-cluster-ip-range": svc_cidr})
    util.write_file(os.path.join(common.MANIFESTS_DIR, "kube-controller-manager.yaml"), manifest(
        "kube-controller-manager", "%s/kube-controller-manager:%s" % (repo, version),
        ["kube-controller-manager"] + flag_list(cm_flags, extra_args(clusc.get("controllerManager"))),
        certs_vols + [("kubeconfig", "/etc/kubernetes/controller-manager.conf", True)], probe_port=10257), 0o600)
    out('[control-plane] Creating static Pod manifest for "kube-scheduler"')
    util.write_file(os.path.join(common.MANIFESTS_DIR, "kube-scheduler.yaml"), manifest(
        "kube-scheduler", "%s/kube-scheduler:%s" % (repo, version),
        ["kube-scheduler"] + flag_list({"authentication-kubeconfig": "/etc/kubernetes/scheduler.conf",
                                        "authorization-kubeconfig": "/etc/kubernetes/scheduler.conf",
                                        "bind-address": "127.0.0.1", "kubeconfig": "/etc/kubernetes/scheduler.conf",
                                        "leader-elect": "true"}, extra_args(clusc.get("scheduler"))),
        [("kubeconfig", "/etc/kubernetes/scheduler.conf", True)], probe_port=10259), 0o600)


def mark_control_plane(api, node_name, taints, timeout):
    """The node's control-plane labels and taints (taints None: kubeadm's default NoSchedule one)."""
    out("[mark-control-plane] Marking the node %s as control-plane by adding the labels: "
        "[node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]" % node_name)
    if taints is None:
        taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    out("[mark-control-plane] Marking the node %s as control-plane by adding the taints [%s]"
        % (node_name, " ".join("%s:%s" % (t["key"], t["effect"]) for t in taints)))
    node = util.wait_until(lambda: get_or_none(api, "/api/v1/nodes/" + node_name), timeout, 0.5)
    if not node:
        raise PhaseError("mark-control-plane", 'timed out waiting for the condition: nodes "%s" not found' % node_name)
    existing = [t for t in (node.get("spec") or {}).get("taints") or []
                if t["key"] not in {x["key"] for x in taints}]
    api.patch("/api/v1/nodes/" + node_name, {
        "metadata": {"labels": {"node-role.kubernetes.io/control-plane": "",
                                "node.kubernetes.io/exclude-from-external-load-balancers": ""}},
        "spec": {"taints": existing + taints}})

def manifest(name, image, command, volumes, extra_annotations=None, probe_port=None, probe_host="127.0.0.1",
             probe_scheme="HTTPS"):
    mounts = [{"mountPath": p, "name": n, "readOnly": ro} for n, p, ro in volumes]
    for m in mounts:
        if not m["readOnly"]:
            del m["readOnly"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"labels": {"component": name, "tier": "control-plane"}, "name": name,
                        "namespace": "kube-system"},
           "spec": {"containers": [{"command": command, "image": image, "imagePullPolicy": "IfNotPresent",
                                    "name": name, "resources": {"requests": {"cpu": "250m"}},
                                    "volumeMounts": mounts}],
                    "hostNetwork": True, "priority": 2000001000, "priorityClassName": "system-node-critical",
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "volumes": [{"hostPath": {"path": p, "type": "DirectoryOrCreate"}, "name": n}
                                for n, p, _ in volumes]},
           "status": {}}
    if extra_annotations:
        pod["metadata"]["annotations"] = extra_annotations
    if probe_port:
        pod["spec"]["containers"][0]["livenessProbe"] = {
            "failureThreshold": 8, "httpGet": {"host": probe_host, "path": "/livez" if name != "etcd" else "/livez",
                                               "port": probe_port, "scheme": probe_scheme},
            "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 15}
    return util.yaml_dump(pod)


def flag_list(defaults, extra):
    merged = dict(defaults)
    merged.update(extra)
    return ["--%s=%s" % (k, v) for k, v in sorted(merged.items())]


def cmd_init(argv):
    f = util.Flags({"pod-network-cidr": "", "service-cidr": "10.96.0.0/12", "apiserver-advertise-address": "",
                    "apiserver-bind-port": 6443, "control-plane-endpoint": "", "upload-certs": False, "config": "",
                    "cri-socket": "", "node-name": "", "kubernetes-version": "", "ignore-preflight-errors": [],
                    "skip-token-print": False, "token": "", "token-ttl": "24h0m0s", "apiserver-cert-extra-sans": [],
                    "service-dns-domain": "cluster.local", "certificate-key": "", "skip-phases": [],
                    "dry-run": False, "v": "0", "image-repository": "registry.k8s.io", "cert-dir": common.PKI_DIR,
                    "skip-certificate-key-print": False, "patches": "", "feature-gates": "", "help": False},
                   short={"v": "v", "h": "help"}).parse(argv)
    check_config_mix(f, CONFIG_ALLOWED_INIT)
    docs = load_config_docs(f["config"]) if f["config"] else {}
    initc = docs.get("InitConfiguration") or {}
    clusc = docs.get("ClusterConfiguration") or {}
    nodereg = initc.get("nodeRegistration") or {}
    lep = initc.get("localAPIEndpoint") or {}
    net = clusc.get("networking") or {}
    ignored = list(f["ignore-preflight-errors"]) + list(nodereg.get("ignorePreflightErrors") or [])
    cri_socket = nodereg.get("criSocket") or f["cri-socket"]
    if cri_socket and "://" not in cri_socket:
        util.klog("W", 'Usage of CRI endpoints without URL scheme is deprecated and can cause kubelet errors in the '
                       'future. Automatically prepending scheme "unix" to the "criSocket" with value "%s". Please '
                       'update your configuration!' % cri_socket)
    cri_socket = common.normalize_socket(cri_socket)
    node_name = (nodereg.get("name") or f["node-name"] or common.hostname()).lower()
    advertise = lep.get("advertiseAddress") or f["apiserver-advertise-address"] or common.default_ip()
    if not advertise:
        raise PhaseError(None, "unable to select an IP from default routes.")
    bind_port = int(lep.get("bindPort") or f["apiserver-bind-port"])
    endpoint = clusc.get("controlPlaneEndpoint") or f["control-plane-endpoint"]
    pod_cidr = net.get("podSubnet") or f["pod-network-cidr"]
    svc_cidr = net.get("serviceSubnet") or f["service-cidr"]
    domain = net.get("dnsDomain") or f["service-dns-domain"]
    version = resolve_version(clusc.get("kubernetesVersion") or f["kubernetes-version"])
    repo = clusc.get("imageRepository") or f["image-repository"]
    timeouts = initc.get("timeouts") or {}
    for cidr, name in ((pod_cidr, "networking.podSubnet"), (svc_cidr, "networking.serviceSubnet")):
        if cidr:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise PhaseError(None, '%s: Invalid value: "%s": couldn\'t parse subnet' % (name, cidr))
    if not pki.is_ip(advertise):
        raise PhaseError(None, 'localAPIEndpoint.advertiseAddress: Invalid value: "%s": is not a valid IPv4 or IPv6 '
                               'address' % advertise)
    tokens = initc.get("bootstrapTokens") or [{}]
    token = tokens[0].get("token") or f["token"] or generate_token()
    if not valid_token(token):
        raise PhaseError(None, 'the bootstrap token "%s" was not of the form %s' % (token, TOKEN_FORM))
    token_ttl = util.parse_duration(tokens[0].get("ttl") or f["token-ttl"])

    out("[init] Using Kubernetes version: %s" % version)
    out("[preflight] Running pre-flight checks")
    root_check(ignored)
    c = Checks(ignored)
    ncpu = os.cpu_count() or 1
    if ncpu < 2:
        c.add("NumCPU", "the number of available CPUs %d is less than the required 2" % ncpu)
    kv = version.lstrip("v").split(".")
    if (int(kv[0]), int(kv[1])) > tuple(int(x) for x in VERSION.split(".")[:2]):
        c.add("KubernetesVersion", "Kubernetes version is greater than kubeadm version. Please consider to upgrade "
                                   "kubeadm. Kubernetes version: %s. Kubeadm version: %s.x"
              % (version.lstrip("v"), ".".join(VERSION.split(".")[:2])), error=False)
    control_plane_checks(c, bind_port)
    common_checks(c, cri_socket, version)
    for port in (2379, 2380):
        if not port_free(port):
            c.add("Port-%d" % port, "Port %d is in use" % port)
    dir_available(c, common.ETCD_DIR)
    c.finish()
    out("[preflight] Pulling images required for setting up a Kubernetes cluster")
    out("[preflight] This might take a minute or two, depending on the speed of your internet connection")
    out("[preflight] You can also perform this action beforehand using 'kubeadm config images pull'")
    pull_images(ignored, ["%s/etcd:%s" % (repo, common.ETCD_VERSION)])

    # certificates
    pki_dir = clusc.get("certificatesDir") or f["cert-dir"]
    out('[certs] Using certificateDir folder "%s"' % pki_dir)
    svc_net = ipaddress.ip_network(svc_cidr.split(",")[0], strict=False)
    dns_ip = str(svc_net.network_address + 10)
    sans = list((clusc.get("apiServer") or {}).get("certSANs") or []) + list(f["apiserver-cert-extra-sans"])
    dns_names, ips = apiserver_sans(node_name, advertise, svc_cidr, domain, endpoint, sans)

    def write_pair(name, cert, key):
        util.write_file(os.path.join(pki_dir, name + ".crt"), cert, 0o644)
        util.write_file(os.path.join(pki_dir, name + ".key"), key, 0o600)

    for name, cn in (("ca", "kubernetes"), ("front-proxy-ca", "front-proxy-ca"), ("etcd/ca", "etcd-ca")):
        out('[certs] Generating "%s" certificate and key' % name)
        write_pair(name, *pki.new_ca(cn))
    ca_cert = util.read_text(os.path.join(pki_dir, "ca.crt")).encode()
    ca_key = util.read_text(os.path.join(pki_dir, "ca.key")).encode()
    leaf_certs(pki_dir, node_name, advertise, dns_names, ips)
    out('[certs] Generating "sa" key and public key')
    sa_key, sa_pub = pki.new_rsa_pair()
    util.write_file(os.path.join(pki_dir, "sa.key"), sa_key, 0o600)
    util.write_file(os.path.join(pki_dir, "sa.pub"), sa_pub, 0o600)

    # kubeconfig files
    server = "https://%s" % (endpoint if endpoint and ":" in endpoint else
                             "%s:%d" % (endpoint or advertise, bind_port))
    local_server = "https://%s:%d" % (advertise, bind_port)
    cluster = clusc.get("clusterName") or "kubernetes"
    out('[kubeconfig] Using kubeconfig folder "%s"' % common.KUBERNETES_DIR)

    def kubeconfig(fname, user, cn, orgs, srv):
        out('[kubeconfig] Writing "%s" kubeconfig file' % fname)
        cert, key = pki.sign(ca_cert, ca_key, cn, orgs, client=True)
        util.write_file(os.path.join(common.KUBERNETES_DIR, fname),
                        kclient.make_kubeconfig(srv, ca_cert, user, cluster, cert, key), 0o600)

    kubeconfig("admin.conf", "kubernetes-admin", "kubernetes-admin", ["kubeadm:cluster-admins"], server)
    kubeconfig("super-admin.conf", "kubernetes-super-admin", "kubernetes-super-admin", ["system:masters"], server)
    kubeconfig("kubelet.conf", "system:node:" + node_name, "system:node:" + node_name, ["system:nodes"], server)
    kubeconfig("controller-manager.conf", "system:kube-controller-manager", "system:kube-controller-manager", [],
               local_server)
    kubeconfig("scheduler.conf", "system:kube-scheduler", "system:kube-scheduler", [], local_server)

    # static pod manifests
    out('[etcd] Creating static Pod manifest for local etcd in "%s"' % common.MANIFESTS_DIR)
    write_etcd_manifest(node_name, advertise, repo)
    write_control_plane_manifests(advertise, bind_port, dict(clusc, networking=dict(
        net, podSubnet=pod_cidr, serviceSubnet=svc_cidr, dnsDomain=domain), clusterName=cluster,
        imageRepository=repo, kubernetesVersion=version))

    # kubelet
    kcfg = kubelet_config(docs.get("KubeletConfiguration"), dns_ip, domain)
    out('[kubelet-start] Writing kubelet environment file with flags to file "%s"' % common.KUBELET_FLAGS_ENV)
    kubelet_args = extra_args({"extraArgs": nodereg.get("kubeletExtraArgs")})
    util.write_file(common.KUBELET_FLAGS_ENV, kubelet_flags_env(cri_socket, node_name, kubelet_args), 0o644)
    out('[kubelet-start] Writing kubelet configuration to file "%s"' % common.KUBELET_CONFIG)
    util.write_file(common.KUBELET_CONFIG, util.yaml_dump(kcfg), 0o644)
    out("[kubelet-start] Starting the kubelet")
    restart_kubelet()
    out('[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory '
        '"%s"' % common.MANIFESTS_DIR)
    wait_kubelet_healthy(timeout_from("KUBEADM_KUBELET_HEALTH_TIMEOUT", timeouts.get("kubeletHealthCheck"), 240))
    cp_timeout = timeout_from("KUBEADM_CONTROL_PLANE_TIMEOUT", timeouts.get("controlPlaneComponentHealthCheck") or
                              (clusc.get("apiServer") or {}).get("timeoutForControlPlane"), 240)
    fault = control_plane_fault()
    if fault is not None:
        cp_timeout = fault
    out("[api-check] Waiting for a healthy API server. This can take up to %s" % util.format_duration(cp_timeout))
    local_admin = kclient.client_from_kubeconfig(os.path.join(common.KUBERNETES_DIR, "admin.conf"), timeout=10,
                                                 server=local_server)
    start = time.monotonic()
    if not util.wait_until(lambda: api_ready(local_admin), cp_timeout, 0.5):
        out("[api-check] The API server is not healthy after %s" % util.format_duration(cp_timeout))
        if fault is not None:
            os.remove(common.CONTROL_PLANE_FAULT)   # the fault is of the first start only
        raise PhaseError("wait-control-plane", "could not initialize a Kubernetes cluster")
    out("[api-check] The API server is healthy after %.9fs" % (time.monotonic() - start))
    api = local_admin

    # cluster objects
    # the whole ClusterConfiguration (extraArgs too): control-plane joins make their manifests from it
    cluster_cfg = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
                   "apiServer": dict(clusc.get("apiServer") or {}, **({"certSANs": sans} if sans else {})),
                   "caCertificateValidityPeriod": "87600h0m0s", "certificateValidityPeriod": "8760h0m0s",
                   "certificatesDir": pki_dir, "clusterName": cluster, "controlPlaneEndpoint": endpoint,
                   "controllerManager": clusc.get("controllerManager") or {}, "dns": {},
                   "encryptionAlgorithm": "RSA-2048", "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
                   "imageRepository": repo, "kubernetesVersion": version,
                   "networking": {"dnsDomain": domain, "podSubnet": pod_cidr, "serviceSubnet": svc_cidr},
                   "proxy": {}, "scheduler": clusc.get("scheduler") or {}}
    if not pod_cidr:
        del cluster_cfg["networking"]["podSubnet"]
    out('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace')
    create_or_replace(api, "/api/v1/namespaces/kube-system/configmaps", configmap(
        "kubeadm-config", "kube-system", {"ClusterConfiguration": util.yaml_dump(cluster_cfg)}))
    out('[kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the configuration for the '
        'kubelets in the cluster')
    create_or_replace(api, "/api/v1/namespaces/kube-system/configmaps", configmap(
        "kubelet-config", "kube-system", {"kubelet": util.yaml_dump(kcfg)}))
    certificate_key = ""
    if f["upload-certs"]:
        from kube import kubeadm_controlplane as kcp
        certificate_key = initc.get("certificateKey") or f["certificate-key"] or kcp.new_certificate_key()
        kcp.upload_certs(api, pki_dir, certificate_key)
        out("[upload-certs] Using certificate key:")
        out(certificate_key)
    else:
        out("[upload-certs] Skipping phase. Please see --upload-certs")
    mark_control_plane(api, node_name, nodereg.get("taints"), cp_timeout)
    out("[bootstrap-token] Using token: %s" % token)
    out("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles")
    out("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes")
    out("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get "
        "long term certificate credentials")
    out("[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a "
        "Node Bootstrap Token")
    out("[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in the "
        "cluster")
    create_or_replace(api, "/api/v1/namespaces/kube-system/secrets",
                      token_secret(token, token_ttl, "The default bootstrap token generated by 'kubeadm init'."))
    for crb, role, subject in (("kubeadm:cluster-admins", "cluster-admin", "kubeadm:cluster-admins"),
                               ("kubeadm:get-nodes", "kubeadm:get-nodes", DEFAULT_TOKEN_GROUPS),
                               ("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", DEFAULT_TOKEN_GROUPS),
                               ("kubeadm:node-autoapprove-bootstrap", CSR_ROLE + "nodeclient", DEFAULT_TOKEN_GROUPS),
                               ("kubeadm:node-autoapprove-certificate-rotation", CSR_ROLE + "selfnodeclient",
                                "system:nodes")):
        create_or_replace(api, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": crb},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": subject}]})
    out('[bootstrap-token] Creating the "cluster-info" ConfigMap in the "kube-public" namespace')
    create_or_replace(api, "/api/v1/namespaces/kube-public/configmaps", configmap(
        "cluster-info", "kube-public", {"kubeconfig": cluster_info_kubeconfig(server, ca_cert)}))
    out('[kubelet-finalize] Updating "/etc/kubernetes/kubelet.conf" to point to a rotatable kubelet client certificate '
        'and key')
    finalize_kubelet_conf(ca_cert, ca_key, node_name, server)
    addons(api, repo, version, dns_ip, domain, pod_cidr, server)
    out("[addons] Applied essential addon: CoreDNS")
    out("[addons] Applied essential addon: kube-proxy")
    out("")
    out("Your Kubernetes control-plane has initialized successfully!")
    out("")
    out("To start using your cluster, you need to run the following as a regular user:")
    out("")
    out("  mkdir -p $HOME/.kube")
    out("  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config")
    out("  sudo chown $(id -u):$(id -g) $HOME/.kube/config")
    out("")
    out("Alternatively, if you are the root user, you can run:")
    out("")
    out("  export KUBECONFIG=/etc/kubernetes/admin.conf")
    out("")
    out("You should now deploy a pod network to the cluster.")
    out('Run "kubectl apply -f [podnetwork].yaml" with one of the options listed at:')
    out("  https://kubernetes.io/docs/concepts/cluster-administration/addons/")
    out("")
    shown = "<value withheld>" if f["skip-token-print"] else token
    join_ep = server[len("https://"):]
    cahash = pki.ca_cert_hash(ca_cert)
    if endpoint and certificate_key:
        out("You can now join any number of the control-plane node running the following command on each as root:")
        out("")
        out("  kubeadm join %s --token %s \\\n\t--discovery-token-ca-cert-hash %s \\\n\t--control-plane "
            "--certificate-key %s" % (join_ep, shown, cahash, "<value withheld>" if f["skip-certificate-key-print"]
                                      else certificate_key))
        out("")
        out("Please note that the certificate-key gives access to cluster sensitive data, keep it secret!")
        out("As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use")
        out('"kubeadm init phase upload-certs --upload-certs" to reload certs afterward.')
        out("")
    elif endpoint:
        out("You can now join any number of control-plane nodes by copying certificate authorities")
        out("and service account keys on each node and then running the following as root:")
        out("")
        out("  kubeadm join %s --token %s \\\n\t--discovery-token-ca-cert-hash %s \\\n\t--control-plane "
            % (join_ep, shown, cahash))
        out("")
    out("Then you can join any number of worker nodes by running the following on each as root:")
    out("")
    out("kubeadm join %s --token %s \\\n\t--discovery-token-ca-cert-hash %s " % (join_ep, shown, cahash))
    return 0


def get_or_none(api, path):
    try:
        return api.get(path)
    except (kclient.ApiError, kclient.ConnectError):
        return None


def configmap(name, ns, data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def create_or_replace(api, collection, obj):
    try:
        return api.create(collection, obj)
    except kclient.ApiError as e:
        if e.code != 409:
            raise
    return api.replace(collection + "/" + obj["metadata"]["name"], obj)


def cluster_info_kubeconfig(server, ca_cert):
    return util.yaml_dump({"apiVersion": "v1", "clusters": [{"cluster": {
        "certificate-authority-data": pki.b64(ca_cert), "server": server}, "name": ""}],
        "contexts": None, "current-context": "", "kind": "Config", "preferences": {}, "users": None})


def finalize_kubelet_conf(ca_cert, ca_key, node_name, server):
    """Move the init node's kubelet to a client certificate file under /var/lib/kubelet/pki (rotatable)."""
    cert, key = pki.sign(ca_cert, ca_key, "system:node:" + node_name, ["system:nodes"], client=True)
    pem = os.path.join(common.KUBELET_DIR, "pki", "kubelet-client-%s.pem" % time.strftime("%Y-%m-%d-%H-%M-%S"))
    util.write_file(pem, cert + key)
    current = os.path.join(common.KUBELET_DIR, "pki", "kubelet-client-current.pem")
    if os.path.lexists(current):
        os.unlink(current)
    os.symlink(pem, current)
    text = kclient.make_kubeconfig(server, ca_cert, "system:node:" + node_name, cert_file=current, key_file=current)
    util.write_file(common.KUBELET_CONF, text, 0o600)


def addons(api, repo, version, dns_ip, domain, pod_cidr, server):
    """CoreDNS (Deployment + Service) and kube-proxy (DaemonSet + ConfigMap), shaped like kubeadm's."""
    corefile = (".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n    kubernetes %s "
                "in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       "
                "ttl 30\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n"
                "    }\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n" % domain)
    create_or_replace(api, "/api/v1/namespaces/kube-system/configmaps", configmap("coredns", "kube-system",
                                                                                 {"Corefile": corefile}))
    labels = {"k8s-app": "kube-dns"}
    create_or_replace(api, "/apis/apps/v1/namespaces/kube-system/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "containers": [{"name": "coredns",
                                     "image": "%s/coredns/coredns:%s" % (repo, common.COREDNS_VERSION),
                                     "args": ["-conf", "/etc/coredns/Corefile"]}],
                     "priorityClassName": "system-cluster-critical", "serviceAccountName": "coredns",
                     "nodeSelector": {"kubernetes.io/os": "linux"},
                     "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                     {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}}})
    create_or_replace(api, "/api/v1/namespaces/kube-system/services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": dict(labels, **{
            "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"})},
        "spec": {"clusterIP": dns_ip, "selector": labels, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            {"name": "metrics", "port": 9153, "protocol": "TCP"}]}})
    proxy_cfg = util.yaml_dump({"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
                                "clusterCIDR": pod_cidr or "", "mode": ""})
    create_or_replace(api, "/api/v1/namespaces/kube-system/configmaps", configmap("kube-proxy", "kube-system", {
        "config.conf": proxy_cfg, "kubeconfig.conf": util.yaml_dump({
            "apiVersion": "v1", "kind": "Config", "clusters": [{"cluster": {
                "certificate-authority": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "server": server},
                "name": "default"}]})}))
    plabels = {"k8s-app": "kube-proxy"}
    create_or_replace(api, "/apis/apps/v1/namespaces/kube-system/daemonsets", {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": plabels},
        "spec": {"selector": {"matchLabels": plabels}, "template": {"metadata": {"labels": plabels}, "spec": {
            "containers": [{"name": "kube-proxy", "image": "%s/kube-proxy:%s" % (repo, version),
                            "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                        "--hostname-override=$(NODE_NAME)"]}],
            "hostNetwork": True, "priorityClassName": "system-node-critical", "serviceAccountName": "kube-proxy",
            "nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": [{"operator": "Exists"}]}}}})


# ---- join -----------------------------------------------------------------------------------------------

def cmd_join(argv):
    f = util.Flags({"token": "", "discovery-token": "", "tls-bootstrap-token": "",
                    "discovery-token-ca-cert-hash": [], "discovery-token-unsafe-skip-ca-verification": False,
                    "discovery-file": "", "cri-socket": "", "node-name": "", "config": "",
                    "ignore-preflight-errors": [], "control-plane": False, "certificate-key": "",
                    "apiserver-advertise-address": "", "apiserver-bind-port": 6443, "skip-phases": [],
                    "dry-run": False, "v": "0", "patches": "", "help": False},
                 short={"v": "v", "h": "help"}).parse(argv)
    check_config_mix(f, CONFIG_ALLOWED_JOIN)
    docs = load_config_docs(f["config"]) if f["config"] else {}
    joinc = docs.get("JoinConfiguration") or {}
    nodereg = joinc.get("nodeRegistration") or {}
    disc = joinc.get("discovery") or {}
    bt = disc.get("bootstrapToken") or {}
    if f["config"]:
        endpoint = bt.get("apiServerEndpoint", "")
        token = bt.get("token") or disc.get("tlsBootstrapToken") or ""
        hashes = list(bt.get("caCertHashes") or [])
        unsafe = bool(bt.get("unsafeSkipCAVerification"))
    else:
        if len(f.args) > 1:
            raise PhaseError(None, "accepts at most 1 arg(s), received %d" % len(f.args))
        endpoint = f.args[0] if f.args else ""
        token = f["discovery-token"] or f["token"]
        hashes = list(f["discovery-token-ca-cert-hash"])
        unsafe = f["discovery-token-unsafe-skip-ca-verification"]
    timeouts = joinc.get("timeouts") or {}
    discovery_timeout = timeout_from("KUBEADM_DISCOVERY_TIMEOUT", timeouts.get("discovery") or disc.get("timeout"), 60)
    control_plane = f["control-plane"] or "controlPlane" in joinc
    if not endpoint and not f["discovery-file"]:
        raise PhaseError(None, "discovery: Invalid value: \"\": bootstrapToken or file must be set")
    if not token:
        raise PhaseError(None, "discovery.bootstrapToken.token: Invalid value: \"\": the bootstrap token is invalid")
    if not valid_token(token):
        raise PhaseError(None, 'discovery.bootstrapToken.token: Invalid value: "%s": the bootstrap token is invalid'
                         % token)
    if not hashes and not unsafe:
        raise PhaseError(None, 'discovery.bootstrapToken: Invalid value: "": using token-based discovery without '
                               'caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm '
                               'config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue')
    for h in hashes:
        if not h.startswith("sha256:") or len(h) != 71:
            raise PhaseError(None, 'discovery.bootstrapToken.caCertHashes: Invalid value: "%s": invalid hash "%s", '
                                   'expected a "sha256" hash' % (h, h))
    ignored = list(f["ignore-preflight-errors"]) + list(nodereg.get("ignorePreflightErrors") or [])
    cri_socket = common.normalize_socket(nodereg.get("criSocket") or f["cri-socket"])
    node_name = (nodereg.get("name") or f["node-name"] or common.hostname()).lower()
    cp = joinc.get("controlPlane") or {}
    certificate_key = f["certificate-key"] or cp.get("certificateKey") or ""
    cp_advertise = (cp.get("localAPIEndpoint") or {}).get("advertiseAddress") or f["apiserver-advertise-address"] \
        or common.default_ip()
    cp_port = int((cp.get("localAPIEndpoint") or {}).get("bindPort") or f["apiserver-bind-port"])

    out("[preflight] Running pre-flight checks")
    root_check(ignored)
    c = Checks(ignored)
    file_available(c, common.KUBELET_CONF)
    file_available(c, common.BOOTSTRAP_KUBELET_CONF)
    common_checks(c, cri_socket, "")
    if not control_plane:
        file_available(c, os.path.join(common.PKI_DIR, "ca.crt"))
    c.finish()

    # discovery (kubeadm's token discovery: fetch cluster-info without trusting the server, then check it)
    tid, tsecret = token.split(".")
    insecure = kclient.Client("https://" + endpoint, timeout=10)
    deadline = time.monotonic() + discovery_timeout
    last = None
    cm = None
    while True:
        try:
            cm = insecure.get("/api/v1/namespaces/kube-public/configmaps/cluster-info", timeout="10s")
            if "jws-kubeconfig-" + tid in (cm.get("data") or {}):
                break
            last = 'could not find a JWS signature in the cluster-info ConfigMap for token ID "%s"' % tid
        except kclient.ConnectError as e:
            last = 'failed to request the cluster-info ConfigMap: Get "https://%s/api/v1/namespaces/kube-public/' \
                   'configmaps/cluster-info?timeout=10s": %s' % (endpoint, e.detail)
        except kclient.ApiError as e:
            last = "failed to request the cluster-info ConfigMap: %s" % e.message
        if time.monotonic() >= deadline:
            raise PhaseError("preflight", "couldn't validate the identity of the API Server: %s" % last)
        time.sleep(min(5, max(0.5, deadline - time.monotonic())))
    content = cm["data"].get("kubeconfig", "")
    if cm["data"]["jws-kubeconfig-" + tid] != jws_detached(content, tid, tsecret):
        raise PhaseError("preflight", "couldn't validate the identity of the API Server: failed to verify JWS "
                                      "signature of received cluster info object, can't trust this API Server")
    info = util.yaml_load_all(content)[0]
    ca_cert = base64.b64decode(info["clusters"][0]["cluster"]["certificate-authority-data"])
    if not unsafe:
        actual = pki.ca_cert_hash(ca_cert)
        if actual not in hashes:
            raise PhaseError("preflight", "couldn't validate the identity of the API Server: cluster CA found in "
                                          "cluster-info ConfigMap is invalid: none of the public keys \"%s\" are pinned"
                             % actual)
    boot = kclient.Client("https://" + endpoint, ca=ca_cert, token=token, timeout=10)
    try:
        boot.get("/api/v1/namespaces/kube-public/configmaps/cluster-info")
        out("[preflight] Reading configuration from the cluster...")
        out("[preflight] FYI: You can look at this config file with "
            "'kubectl -n kube-system get cm kubeadm-config -o yaml'")
        kubelet_cm = boot.get("/api/v1/namespaces/kube-system/configmaps/kubelet-config")
        kubeadm_cm = boot.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
    except kclient.ConnectError as e:
        raise PhaseError("preflight", "couldn't validate the identity of the API Server: %s" % e.detail)
    except kclient.ApiError as e:
        raise PhaseError("preflight", "unable to fetch the kubeadm-config ConfigMap: %s" % e.message)
    kcfg = util.yaml_load_all(kubelet_cm["data"]["kubelet"])[0]
    for k, v in (docs.get("KubeletConfiguration") or {}).items():
        if k not in ("apiVersion", "kind"):
            kcfg[k] = v
    if control_plane:
        from kube import kubeadm_controlplane as kcp
        clusc = util.yaml_load_all((kubeadm_cm.get("data") or {}).get("ClusterConfiguration", ""))[0]
        kcp.join_preflight(clusc, certificate_key, ignored, cp_port, clusc.get("certificatesDir") or common.PKI_DIR)
        kcp.prepare(boot, clusc, certificate_key, node_name, cp_advertise, cp_port)

    # kubelet-start
    try:
        existing = boot.get("/api/v1/nodes/" + node_name)
    except kclient.ApiError:
        existing = None
    if existing:
        conditions = (existing.get("status") or {}).get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), {})
        if ready.get("status") == "True":
            raise PhaseError("kubelet-start", 'a Node with name "%s" and status "Ready" already exists in the cluster. '
                                              'You must delete the existing Node or change the name of this new '
                                              'joining Node' % node_name)
    out('[kubelet-start] Writing kubelet configuration to file "%s"' % common.KUBELET_CONFIG)
    util.write_file(common.KUBELET_CONFIG, util.yaml_dump(kcfg), 0o644)
    out('[kubelet-start] Writing kubelet environment file with flags to file "%s"' % common.KUBELET_FLAGS_ENV)
    util.write_file(common.KUBELET_FLAGS_ENV, kubelet_flags_env(cri_socket, node_name, extra_args(
        {"extraArgs": nodereg.get("kubeletExtraArgs")})), 0o644)
    util.write_file(os.path.join(common.PKI_DIR, "ca.crt"), ca_cert, 0o644)
    util.write_file(common.BOOTSTRAP_KUBELET_CONF, kclient.make_kubeconfig(
        "https://" + endpoint, ca_cert, "tls-bootstrap-token-user", token=token), 0o600)
    try:
        out("[kubelet-start] Starting the kubelet")
        restart_kubelet()
        wait_kubelet_healthy(timeout_from("KUBEADM_KUBELET_HEALTH_TIMEOUT", timeouts.get("kubeletHealthCheck"), 240))
        out("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
        tls_timeout = timeout_from("KUBEADM_TLS_BOOTSTRAP_TIMEOUT", timeouts.get("tlsBootstrap"), 300)
        if not util.wait_until(lambda: os.path.exists(common.KUBELET_CONF), tls_timeout, 0.5):
            raise PhaseError("kubelet-start", "timed out waiting for the condition")
    except PhaseError as e:
        e.phase = "kubelet-start"
        raise
    finally:
        if os.path.exists(common.BOOTSTRAP_KUBELET_CONF):
            os.unlink(common.BOOTSTRAP_KUBELET_CONF)
    if control_plane:
        admin = kclient.client_from_kubeconfig(common.ADMIN_CONF, timeout=10)
        kcp.join_etcd(admin, clusc, node_name, cp_advertise)
        out("The 'update-status' phase is deprecated and will be removed in a future release. Currently it performs "
            "no operation")
        cp_timeout = timeout_from("KUBEADM_CONTROL_PLANE_TIMEOUT", timeouts.get("controlPlaneComponentHealthCheck"),
                                  240)
        mark_control_plane(admin, node_name, nodereg.get("taints"), cp_timeout)
        kcp.wait_local_api_server(clusc.get("certificatesDir") or common.PKI_DIR, cp_advertise, cp_port, cp_timeout)
        kcp.joined_message()
        return 0
    out("")
    out("This node has joined the cluster:")
    out("* Certificate signing request was sent to apiserver and a response was received.")
    out("* The Kubelet was informed of the new secure connection details.")
    out("")
    out("Run 'kubectl get nodes' on the control-plane to see this node join the cluster.")
    out("")
    return 0


# ---- reset ----------------------------------------------------------------------------------------------

def clean_dir(path):
    if not os.path.isdir(path):
        return
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass


def remove_containers(endpoint):
    """kubeadm's removeContainers: every pod sandbox of the container runtime stopped and removed (with its
    containers); told only at -v 1, as kubeadm does."""
    from kube import runtime
    try:
        for sandbox in runtime.sandboxes(endpoint):
            runtime.stop_sandbox(endpoint, sandbox["id"])
            runtime.remove_sandbox(endpoint, sandbox["id"])
    except cri.RPCError as e:
        util.klog("E", "[reset] Failed to remove containers: %s" % e)


def cmd_reset(argv):
    f = util.Flags({"force": False, "cri-socket": "", "ignore-preflight-errors": [], "dry-run": False,
                    "cert-dir": common.PKI_DIR, "kubeconfig": common.ADMIN_CONF, "skip-phases": [], "v": "0",
                    "cleanup-tmp-dir": False, "config": "", "help": False},
                   short={"f": "force", "v": "v", "h": "help"}).parse(argv)
    root_check(f["ignore-preflight-errors"])
    from kube import kubeadm_controlplane as kcp
    api, clusc = None, None
    if os.path.exists(f["kubeconfig"]):
        out("[reset] Reading configuration from the cluster...")
        out("[reset] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'")
        try:
            api = kclient.client_from_kubeconfig(f["kubeconfig"], timeout=20)
            clusc = kcp.fetch_cluster_configuration(api)
        except (kclient.ApiError, kclient.ConnectError, OSError, ValueError, IndexError) as e:
            why = getattr(e, "message", None) or getattr(e, "detail", None) or e
            util.klog("W", "[reset] Unable to fetch the kubeadm-config ConfigMap from cluster: failed to get config "
                           "map: %s" % why)
    else:
        util.klog("W", "[reset] Unable to fetch the kubeadm-config ConfigMap from cluster: failed to get config map: "
                       "failed to load admin kubeconfig: open %s: no such file or directory" % f["kubeconfig"])
    if not f["force"]:
        sys.stdout.write("[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be "
                         "reverted.\n[reset] Are you sure you want to proceed? [y/N]: ")
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise PhaseError(None, "aborted reset operation")
    out("[preflight] Running pre-flight checks")
    etcd_manifest = util.read_text(os.path.join(common.MANIFESTS_DIR, "etcd.yaml"), "")
    peer = next((a.split("=", 1)[1] for a in etcd_manifest.split() if a.startswith("--initial-advertise-peer-urls=")),
                None)
    if clusc is not None and peer and not f["dry-run"]:
        try:   # remove-etcd-member: before the member stops, so the others go on as a cluster without it
            kcp.remove_etcd_member(api, clusc.get("certificatesDir") or f["cert-dir"], peer)
        except (kcp.etcdclient.EtcdError, kclient.ApiError, kclient.ConnectError) as e:
            why = getattr(e, "message", None) or getattr(e, "detail", None) or e
            util.klog("W", "[reset] Failed to remove etcd member: %s, please manually remove this etcd member using "
                           "etcdctl" % why)
    if os.path.exists(os.path.join(common.MANIFESTS_DIR, "etcd.yaml")) or \
            (os.path.isdir(common.ETCD_DIR) and os.listdir(common.ETCD_DIR)):
        etcd_data = True
    else:
        etcd_data = False
        util.klog("W", "[reset] No kubeadm config, using etcd pod spec to get data directory")
    out("[reset] Deleted contents of the etcd data directory: %s" % common.ETCD_DIR if etcd_data else
        "[reset] No etcd config found. Assuming external etcd\n[reset] Please, manually reset etcd to prevent further "
        "issues")
    out("[reset] Stopping the kubelet service")
    subprocess.run(["systemctl", "stop", "kubelet"], capture_output=True)
    out('[reset] Unmounting mounted directories in "%s"' % common.KUBELET_DIR)
    for line in reversed((util.read_text("/proc/mounts", "") or "").splitlines()):
        mp = line.split()[1] if len(line.split()) > 1 else ""
        if mp.startswith(common.KUBELET_DIR + "/"):
            subprocess.run(["umount", mp], capture_output=True)
    remove_containers(common.normalize_socket(f["cri-socket"]))
    # the static pods run as transient units
    from kube.kubelet import AddonPods, StaticPods
    for name in StaticPods.running():
        subprocess.run(["systemctl", "stop", common.STATIC_POD_UNIT_PREFIX + name + ".service"], capture_output=True)
    for uid in AddonPods.running():   # the stood-in add-ons' "containers"
        subprocess.run(["systemctl", "stop", AddonPods.PREFIX + uid + ".service"], capture_output=True)
    if etcd_data:
        clean_dir(common.ETCD_DIR)
    dirs = [common.MANIFESTS_DIR, common.KUBELET_DIR, f["cert-dir"]]
    out("[reset] Deleting contents of directories: [%s]" % " ".join(dirs))
    for d in dirs:
        clean_dir(d)
    files = [os.path.join(common.KUBERNETES_DIR, n) for n in ("admin.conf", "super-admin.conf", "kubelet.conf",
                                                              "bootstrap-kubelet.conf", "controller-manager.conf",
                                                              "scheduler.conf")]
    out("[reset] Deleting files: [%s]" % " ".join(files))
    for p in files:
        if os.path.exists(p):
            os.unlink(p)
    clean_dir(os.path.join(common.KUBERNETES_DIR, "tmp"))
    out("")
    out("The reset process does not clean CNI configuration. To do so, you must remove /etc/cni/net.d")
    out("")
    out("The reset process does not reset or clean up iptables rules or IPVS tables.")
    out('If you wish to reset iptables, you must do so manually by using the "iptables" command.')
    out("")
    out("If your cluster was setup to utilize IPVS, run ipvsadm --clear (or similar)")
    out("to reset your system's IPVS tables.")
    out("")
    out("The reset process does not clean your kubeconfig files and you must remove them manually.")
    out("Please, check the contents of the $HOME/.kube/config file.")
    return 0


# ---- token ----------------------------------------------------------------------------------------------

def admin_client(path):
    if not os.path.exists(path):
        raise PhaseError(None, "failed to load admin kubeconfig: open %s: no such file or directory" % path)
    return kclient.client_from_kubeconfig(path, timeout=10)


def join_command(path, token):
    cfg = kclient.load_kubeconfig(path)
    cluster = cfg["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"])
    ep = cluster["server"].split("://", 1)[1]
    return "kubeadm join %s --token %s --discovery-token-ca-cert-hash %s " % (ep, token, pki.ca_cert_hash(ca))


def cmd_token(argv):
    sub = argv[0] if argv else ""
    f = util.Flags({"ttl": "24h0m0s", "print-join-command": False, "description": "", "groups": [],
                    "usages": [], "kubeconfig": common.ADMIN_CONF, "dry-run": False, "v": "0", "config": "",
                    "certificate-key": "", "output": "text", "allow-missing-template-keys": True,
                    "show-managed-fields": False, "help": False},
                   short={"v": "v", "o": "output", "h": "help"}).parse(argv[1:])
    if sub == "generate":
        out(generate_token())
        return 0
    if sub not in ("create", "list", "delete"):
        raise PhaseError(None, 'unknown command "%s" for "kubeadm token"' % sub)
    api = admin_client(f["kubeconfig"])
    try:
        if sub == "create":
            token = f.args[0] if f.args else generate_token()
            if not valid_token(token):
                raise PhaseError(None, 'the bootstrap token "%s" was not of the form %s' % (token, TOKEN_FORM))
            ttl = util.parse_duration(f["ttl"])
            usages = f["usages"] or ["signing", "authentication"]
            groups = ",".join(f["groups"]) or DEFAULT_TOKEN_GROUPS
            api.create("/api/v1/namespaces/kube-system/secrets",
                       token_secret(token, ttl, f["description"], groups, usages))
            if f["print-join-command"] and f["certificate-key"]:
                out(join_command(f["kubeconfig"], token) + "--control-plane --certificate-key %s "
                    % f["certificate-key"])
            else:
                out(join_command(f["kubeconfig"], token) if f["print-join-command"] else token)
        elif sub == "list":
            rows = []
            for sec in api.get("/api/v1/namespaces/kube-system/secrets")["items"]:
                if sec.get("type") != "bootstrap.kubernetes.io/token":
                    continue
                d = {k: base64.b64decode(v).decode() for k, v in (sec.get("data") or {}).items()}
                exp = d.get("expiration", "")
                if exp:
                    left = (util.parse_rfc3339(exp) - util.now_utc()).total_seconds()
                    hours = "%dh" % (left // 3600) if left >= 3600 else "%dm" % (left // 60)
                    ttl = "<invalid>" if left <= 0 else hours
                else:
                    ttl, exp = "<forever>", "<never>"
                usages = ",".join(u for u in ("authentication", "signing") if d.get("usage-bootstrap-" + u) == "true")
                rows.append(("%s.%s" % (d.get("token-id"), d.get("token-secret")), ttl, exp, usages,
                             d.get("description") or "<none>", d.get("auth-extra-groups", "")))
            if rows:
                header = ("TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS")
                widths = [max(len(r[i]) for r in rows + [header]) for i in range(6)]
                for r in [header] + rows:
                    out("   ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip())
        else:
            if not f.args:
                raise PhaseError(None, "missing argument; 'token delete' is missing token of form "
                                       '"[a-z0-9]{6}" or "[a-z0-9]{6}\\.[a-z0-9]{16}"')
            for t in f.args:
                tid = t.split(".")[0]
                try:
                    api.delete("/api/v1/namespaces/kube-system/secrets/bootstrap-token-" + tid)
                except kclient.ApiError as e:
                    raise PhaseError(None, 'failed to delete bootstrap token with id "%s": %s' % (tid, e.message))
                out('bootstrap token "%s" deleted' % tid)
    except kclient.ConnectError as e:
        raise PhaseError(None, "failed to create or update bootstrap token with name bootstrap-token: %s" % e.detail
                         if sub == "create" else str(e.detail))
    return 0


# ---- version / config -------------------------------------------------------------------------------------

def cmd_version(argv):
    f = util.Flags({"output": "", "v": "0"}, short={"o": "output"}).parse(argv)
    info = common.version_info()
    if f["output"] == "short":
        out(common.GIT_VERSION)
    elif f["output"] == "json":
        out(json.dumps({"clientVersion": info}, indent=2))
    elif f["output"] == "yaml":
        out(util.yaml_dump({"clientVersion": info}).rstrip())
    elif f["output"]:
        raise PhaseError(None, 'invalid output format: %s' % f["output"])
    else:
        out("kubeadm version: &version.Info{Major:\"%s\", Minor:\"%s\", GitVersion:\"%s\", GitCommit:\"%s\", "
            "GitTreeState:\"clean\", BuildDate:\"%s\", GoVersion:\"%s\", Compiler:\"gc\", Platform:\"%s\"}"
            % (info["major"], info["minor"], info["gitVersion"], info["gitCommit"], info["buildDate"],
               info["goVersion"], info["platform"]))
    return 0


def images(version, repo="registry.k8s.io"):
    return ["%s/kube-apiserver:%s" % (repo, version), "%s/kube-controller-manager:%s" % (repo, version),
            "%s/kube-scheduler:%s" % (repo, version), "%s/kube-proxy:%s" % (repo, version),
            "%s/coredns/coredns:%s" % (repo, common.COREDNS_VERSION), "%s/pause:3.10" % repo,
            "%s/etcd:%s" % (repo, common.ETCD_VERSION)]


def cmd_config(argv):
    if argv[:2] in (["images", "list"], ["images", "pull"]):
        f = util.Flags({"kubernetes-version": "", "cri-socket": "", "config": "", "image-repository": "registry.k8s.io",
                        "v": "0", "output": "", "allow-missing-template-keys": True},
                       short={"v": "v", "o": "output"}).parse(argv[2:])
        version = resolve_version(f["kubernetes-version"])
        imgs = images(version, f["image-repository"])
        if argv[1] == "list":
            for i in imgs:
                out(i)
            return 0
        sock = common.normalize_socket(f["cri-socket"])
        p = subprocess.run(["crictl", "-r", sock, "info"], capture_output=True, text=True)
        if p.returncode != 0:
            raise PhaseError(None, "failed to create new CRI runtime service: %s" % (p.stdout + p.stderr).strip())
        for i in imgs:
            try:
                image_store.pull(i)
            except image_store.PullError as e:
                raise PhaseError(None, 'failed to pull image "%s": %s' % (i, e))
            out("[config/images] Pulled %s" % i)
        return 0
    if argv[:2] == ["print", "init-defaults"] or argv[:2] == ["print", "join-defaults"]:
        kind = "InitConfiguration" if argv[1] == "init-defaults" else "JoinConfiguration"
        out(util.yaml_dump({"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": kind,
                            "nodeRegistration": {"criSocket": common.DEFAULT_CRI_SOCKET, "name": "node"}}).rstrip())
        return 0
    raise PhaseError(None, 'unknown command "%s" for "kubeadm config"' % " ".join(argv[:2]))


def cmd_init_phase(argv):
    if argv[:1] == ["upload-certs"]:
        f = util.Flags({"upload-certs": False, "certificate-key": "", "config": "", "kubeconfig": common.ADMIN_CONF,
                        "skip-certificate-key-print": False, "v": "0"}, short={"v": "v"}).parse(argv[1:])
        if not f["upload-certs"]:
            out("[upload-certs] Skipping phase. Please see --upload-certs")
            return 0
        from kube import kubeadm_controlplane as kcp
        docs = load_config_docs(f["config"]) if f["config"] else {}
        key = f["certificate-key"] or (docs.get("InitConfiguration") or {}).get("certificateKey") or \
            kcp.new_certificate_key()
        kcp.upload_certs(admin_client(f["kubeconfig"]), common.PKI_DIR, key)
        if not f["skip-certificate-key-print"]:
            out("[upload-certs] Using certificate key:")
            out(key)
        return 0
    raise PhaseError(None, 'unknown command "%s" for "kubeadm init phase"' % " ".join(argv[:1]))


USAGE = """

    ┌──────────────────────────────────────────────────────────┐
    │ KUBEADM                                                  │
    │ Easily bootstrap a secure Kubernetes cluster             │
    └──────────────────────────────────────────────────────────┘

Usage:
  kubeadm [command]

Available Commands:
  certs       Commands related to handling kubernetes certificates
  config      Manage configuration for a kubeadm cluster persisted in a ConfigMap in the cluster
  help        Help about any command
  init        Run this command in order to set up the Kubernetes control plane
  join        Run this on any machine you wish to join an existing cluster
  reset       Performs a best effort revert of changes made to this host by 'kubeadm init' or 'kubeadm join'
  token       Manage bootstrap tokens
  upgrade     Upgrade your cluster smoothly to a newer version with this command
  version     Print the version of kubeadm
"""


def main(argv):
    cmd = argv[0] if argv else ""
    rest = argv[1:]
    try:
        if cmd == "init" and rest[:1] == ["phase"]:
            return cmd_init_phase(rest[1:])
        if cmd == "upgrade":
            from kube import kubeadm_upgrade  # it builds on this module's helpers
            return kubeadm_upgrade.main(rest)
        handler = {"init": cmd_init, "join": cmd_join, "reset": cmd_reset, "token": cmd_token,
                   "version": cmd_version, "config": cmd_config}.get(cmd)
        if cmd in ("", "help", "--help", "-h"):
            out(USAGE.rstrip())
            return 0
        if handler is None:
            err('unknown command "%s" for "kubeadm"\nRun \'kubeadm --help\' for usage.' % cmd)
            return 1
        return handler(rest)
    except util.UsageError as e:
        err(str(e))
        err("To see the stack trace of this error execute with --v=5 or higher")
        return 1
    except PhaseError as e:
        if e.phase:
            err("error execution phase %s: %s" % (e.phase, e.msg))
        else:
            err(e.msg)
        err(STACK_HINT)
        return 1
    except kclient.ApiError as e:
        err(e.kubectl_text())
        err(STACK_HINT)
        return 1
    except kclient.ConnectError as e:
        err(str(e.detail))
        err(STACK_HINT)
        return 1
