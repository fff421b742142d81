"""kubelet: the node agent.

Reads /var/lib/kubelet/config.yaml (exits like the real kubelet when it is missing, when swap is on with
failSwapOn, on a cgroup v1 host from 1.35 unless failCgroupV1 is false, when the container runtime does not
answer at start, or from 1.36 when it is a containerd older than 2.0), does the TLS bootstrap with
bootstrap-kubelet.conf, registers the node, posts its status every few seconds (Ready only while the
runtime reports RuntimeReady and NetworkReady over CRI), runs the static pods of the control plane as
systemd units, and runs the pods bound to the node for real through the runtime's CRI (kube/pods.py). The
pods of the add-ons whose programs the lab has no build of (CoreDNS, kube-proxy, flannel: images.STOOD_IN) are
reported running without containers; of them, init containers that copy from a ConfigMap volume into a hostPath
(how CNI DaemonSets install their config) are carried out.
"""
import base64
import hashlib
import json
import os
import random
import shlex
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kube import client as kclient
from kube import common, cri, images, pki, pods, rules, util
from kube.version import VERSION

DEFAULT_STATUS_FREQUENCY = 4.0  # seconds (the real default is 10s; the lab wants quick NotReady/Ready)
# until its node is first reported Ready, the real kubelet checks every 100 ms whether it could be, and then
# reports it at once (fastStatusUpdateOnce), instead of waiting for the next regular status update
FAST_STATUS_INTERVAL = 0.1


def fatal(msg):
    util.klog("E", '"command failed" err="%s"' % msg.replace('"', '\\"'))
    return 1


def issued_certificate(csr):
    """The certificate of a CSR once it is signed, else None; a denied CSR ends the kubelet."""
    status = csr.get("status") or {}
    if any(c.get("type") == "Denied" for c in status.get("conditions") or []):
        raise SystemExit(fatal("certificate signing request %s was denied" % csr["metadata"]["name"]))
    return base64.b64decode(status["certificate"]) if status.get("certificate") else None


def wait_for_certificate(api, name):
    """Waits for CSR name to be signed the way the real kubelet does: it watches the CSR (a field selector on
    its name) and takes the certificate from the event that carries it. A watch that ends or fails starts
    again from the CSR as it is then."""
    path = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    while True:
        try:
            csr = api.get(path + "/" + name)
            cert = issued_certificate(csr)
            if cert:
                return cert
            for event in api.watch(path, csr["metadata"].get("resourceVersion", ""),
                                   fieldSelector="metadata.name=" + name):
                if event.get("type") not in ("ADDED", "MODIFIED"):
                    break   # deleted, or an ERROR such as 410 (too old a resourceVersion): read the CSR again
                cert = issued_certificate(event["object"])
                if cert:
                    return cert
        except (kclient.ApiError, kclient.ConnectError, ValueError) as e:
            util.klog("E", "waiting for the certificate: %s" % e)
            time.sleep(1)


class Healthz(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        ok = self.path.split("?")[0] == "/healthz"
        body = b"ok" if ok else b"404 page not found\n"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Unauthorized(BaseHTTPRequestHandler):
    """The kubelet API on :10250 with anonymous auth off (kubeadm's setting): everything is 401."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = b"Unauthorized"
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(bind, port, handler, ctx=None):
    httpd = ThreadingHTTPServer((bind, port), handler)
    httpd.daemon_threads = True
    if ctx:
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def serving_context():
    crt, key = os.path.join(common.KUBELET_DIR, "pki", "kubelet.crt"), os.path.join(common.KUBELET_DIR, "pki",
                                                                                      "kubelet.key")
    if not (os.path.exists(crt) and os.path.exists(key)):
        cert, k = pki.new_ca("%s@%d" % (common.hostname(), int(time.time())))
        util.write_file(key, k)
        util.write_file(crt, cert, 0o644)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return ctx


def systemctl(*args):
    return subprocess.run(["systemctl"] + list(args), capture_output=True, text=True)


class StaticPods:
    """Static pod manifests -> transient systemd units running the component programs."""

    def __init__(self, path, node, endpoint):
        self.path = path
        self.node = node
        self.endpoint = endpoint

    def manifests(self):
        out = {}
        try:
            names = sorted(os.listdir(self.path))
        except OSError:
            return out
        for fn in names:
            if fn.startswith(".") or not fn.endswith((".yaml", ".yml", ".json")):
                continue
            text = util.read_text(os.path.join(self.path, fn), "")
            try:
                pod = util.yaml_load_all(text)[0]
                out[pod["metadata"]["name"]] = (pod, hashlib.sha256(text.encode()).hexdigest()[:12])
            except Exception as e:
                util.klog("E", "could not read static pod manifest %s: %s" % (fn, e))
        return out

    @staticmethod
    def running():
        """{pod name: (active, manifest hash)} for the static pod units that exist."""
        out = {}
        p = systemctl("list-units", "--all", "--plain", "--no-legend", common.STATIC_POD_UNIT_PREFIX + "*")
        for line in p.stdout.splitlines():
            unit = line.split()[0] if line.split() else ""
            if not unit.endswith(".service"):
                continue
            name = unit[len(common.STATIC_POD_UNIT_PREFIX):-len(".service")]
            show = systemctl("show", "-p", "ActiveState", "-p", "Description", unit).stdout
            props = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
            h = props.get("Description", "").rsplit("manifest ", 1)[-1].rstrip(")")
            out[name] = (props.get("ActiveState") in ("active", "activating"), h)
        return out

    def sync(self, runtime_ready):
        want = self.manifests()
        have = self.running()
        for name, (pod, h) in want.items():
            state = have.get(name)
            if state and state[0] and state[1] == h:
                continue
            if state:
                systemctl("stop", common.STATIC_POD_UNIT_PREFIX + name + ".service")
                systemctl("reset-failed", common.STATIC_POD_UNIT_PREFIX + name + ".service")
            if runtime_ready:
                self.start(name, pod, h)
        for name in have:
            if name not in want:
                util.klog("I", "static pod %s removed from %s: stopping it" % (name, self.path))
                systemctl("stop", common.STATIC_POD_UNIT_PREFIX + name + ".service")
        return want

    def start(self, name, pod, h):
        c = ((pod.get("spec") or {}).get("containers") or [{}])[0]
        image = c.get("image", "")
        argv = list(c.get("command") or []) + list(c.get("args") or [])
        try:
            prog = images.program(image, argv[0] if argv else "")
        except images.PullError as e:
            util.klog("E", 'static pod %s: Failed to pull image "%s": %s (ErrImagePull)' % (name, image, e))
            return
        if not argv or not os.path.exists(prog):
            util.klog("E", 'static pod %s: image "%s" not found (ErrImagePull)' % (name, image))
            return
        cmd = ["systemd-run", "--quiet", "--collect", "--unit=" + common.STATIC_POD_UNIT_PREFIX + name,
               "--slice=kubepods.slice",
               "--description=Kubernetes static pod %s-%s (manifest %s)" % (name, self.node, h),
               "-p", "Restart=always", "-p", "RestartSec=2", "--setenv=KUBE_IMAGE=" + image, prog]
        cmd += argv[1:]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            util.klog("E", "starting static pod %s failed: %s" % (name, p.stderr.strip()))
        else:
            util.klog("I", "started static pod %s (%s)" % (name, image))


class AddonPods:
    """The programs of stood-in add-on pods that have one (flanneld, kube-proxy): a transient systemd unit per pod
    running it on the host with the container's args and environment, as its privileged pod on the host's network
    would; stopped when the pod goes."""

    PREFIX = "kubepods-addon-"

    def __init__(self, node_ip, lookup):
        self.node_ip, self.lookup = node_ip, lookup

    @staticmethod
    def program(pod):
        c = ((pod.get("spec") or {}).get("containers") or [{}])[0]
        command = (c.get("command") or [""])[0]
        prog = images.program(c.get("image", ""), command) if command else ""
        return prog if prog and os.path.exists(prog) else None

    @classmethod
    def running(cls):
        """{pod uid: active} of the add-on units that exist."""
        p = systemctl("list-units", "--all", "--plain", "--no-legend", cls.PREFIX + "*")
        out = {}
        for line in p.stdout.splitlines():
            parts = line.split()
            if parts and parts[0].endswith(".service"):
                out[parts[0][len(cls.PREFIX):-len(".service")]] = parts[2] == "active"
        return out

    def sync(self, pods):
        have = self.running()
        wanted = {p["metadata"]["uid"]: p for p in pods if self.program(p)}
        for uid, pod in wanted.items():
            if not have.get(uid):
                self.start(uid, pod)
        for uid in set(have) - set(wanted):
            systemctl("stop", self.PREFIX + uid + ".service")
        return {uid: have.get(uid, False) for uid in wanted}

    def start(self, uid, pod):
        from kube import podconfig
        c = pod["spec"]["containers"][0]
        env = podconfig.container_env(pod, c, self.node_ip, self.node_ip, self.lookup(pod))
        argv = [podconfig.expand(str(a), env) for a in list(c.get("command") or [])[1:] + list(c.get("args") or [])]
        unit = self.PREFIX + uid
        systemctl("reset-failed", unit + ".service")
        cmd = ["systemd-run", "--quiet", "--collect", "--unit=" + unit, "--slice=kubepods.slice",
               "--description=Kubernetes pod %s/%s (%s)" % (pod["metadata"]["namespace"], pod["metadata"]["name"],
                                                           c.get("image", "")),
               "-p", "Restart=always", "-p", "RestartSec=2"] + ["--setenv=%s=%s" % kv for kv in env.items()]
        p = subprocess.run(cmd + [self.program(pod)] + argv, capture_output=True, text=True)
        if p.returncode != 0:
            util.klog("E", "starting pod %s/%s failed: %s" % (pod["metadata"]["namespace"], pod["metadata"]["name"],
                                                             p.stderr.strip()))


class Kubelet:
    def __init__(self, flags, config):
        self.flags = flags
        self.config = config
        self.node = (flags["hostname-override"] or common.hostname()).lower()
        self.endpoint = common.normalize_socket(flags["container-runtime-endpoint"] or
                                                config.get("containerRuntimeEndpoint") or common.DEFAULT_CRI_SOCKET)
        self.static = StaticPods(config.get("staticPodPath") or "", self.node, self.endpoint)
        freq = util.parse_duration(config.get("nodeStatusUpdateFrequency") or "0s")
        self.status_every = freq or DEFAULT_STATUS_FREQUENCY
        self.api = None
        self.pod_changes = None
        self.registered = False
        self.last_status = 0
        self.reported_ready = False
        self.ready_since = {}
        self.runtime_version = ""
        self.node_ip = flags["node-ip"] or common.default_ip() or "127.0.0.1"
        self.pod_ips = {}
        self.cri_pods = pods.CriPods(self.endpoint, self.node, self.node_ip, None, config.get("clusterDNS") or (),
                                     config.get("clusterDomain") or "cluster.local")
        self.addons = AddonPods(self.node_ip, self.cri_pods.lookup)

    # ---- API connection + TLS bootstrap --------------------------------------------------------------
    def connect(self):
        kubeconfig = self.flags["kubeconfig"]
        if kubeconfig and not os.path.exists(kubeconfig) and self.flags["bootstrap-kubeconfig"] and \
                os.path.exists(self.flags["bootstrap-kubeconfig"]):
            self.tls_bootstrap(self.flags["bootstrap-kubeconfig"], kubeconfig)
        if kubeconfig and os.path.exists(kubeconfig):
            self.api = kclient.client_from_kubeconfig(kubeconfig, timeout=10)
            self.cri_pods.api = self.api
            # the pods bound to this node, watched: one bound here starts at once, not at the next sync
            self.pod_changes = kclient.Changes(self.api, ["/api/v1/pods"], fieldSelector="spec.nodeName=" + self.node)

    def tls_bootstrap(self, bootstrap, kubeconfig):
        util.klog("I", "Using bootstrap kubeconfig to generate TLS client cert, key and kubeconfig file")
        boot = kclient.load_kubeconfig(bootstrap)
        bc = kclient.client_from_kubeconfig(bootstrap, timeout=10)
        csr, key = pki.new_csr("system:node:" + self.node, ["system:nodes"])
        name = "node-csr-" + base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("=").replace("-", "x")
        obj = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
               "metadata": {"name": name},
               "spec": {"request": base64.b64encode(csr).decode(),
                        "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                        "usages": ["digital signature", "client auth"]}}
        while True:
            try:
                bc.create("/apis/certificates.k8s.io/v1/certificatesigningrequests", obj)
                break
            except (kclient.ApiError, kclient.ConnectError) as e:
                util.klog("E", "failed to create the certificate signing request: %s" % e)
                time.sleep(2)
        cert = wait_for_certificate(bc, name)
        pki_dir = os.path.join(common.KUBELET_DIR, "pki")
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
        pem = os.path.join(pki_dir, "kubelet-client-%s.pem" % stamp)
        util.write_file(pem, cert + key)
        current = os.path.join(pki_dir, "kubelet-client-current.pem")
        tmp = current + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(pem, tmp)
        os.replace(tmp, current)
        cluster = boot["clusters"][0]["cluster"]
        text = kclient.make_kubeconfig(cluster["server"], base64.b64decode(cluster["certificate-authority-data"]),
                                       "default-auth", cluster="default-cluster", cert_file=current, key_file=current)
        text = text.replace("default-auth@default-cluster", "default-context")
        util.write_file(kubeconfig, text)
        util.klog("I", "Client certificate obtained; wrote %s" % kubeconfig)

    # ---- status ----------------------------------------------------------------------------------------
    def runtime_state(self):
        try:
            st = cri.status(self.endpoint, timeout=3)
        except cri.RPCError as e:
            return False, False, "container runtime is down: %s" % e
        conds = {c["type"]: c for c in st["conditions"]}
        rt, net = conds.get("RuntimeReady", {}), conds.get("NetworkReady", {})
        if not rt.get("status"):
            return False, False, "container runtime not ready: RuntimeReady=false reason:%s message:%s" % (
                rt.get("reason", ""), rt.get("message", ""))
        if not net.get("status"):
            return True, False, ("container runtime network not ready: NetworkReady=false reason:%s message:%s"
                                 % (net.get("reason", ""), net.get("message", "")))
        return True, True, "kubelet is posting ready status"

    def node_object(self):
        labels = {"beta.kubernetes.io/arch": common.arch(), "beta.kubernetes.io/os": "linux",
                  "kubernetes.io/arch": common.arch(), "kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux"}
        for kv in [kv for kv in (self.flags["node-labels"] or "").split(",") if kv]:
            k, _, v = kv.partition("=")
            labels[k] = v
        taints = []
        for t in [t for t in (self.flags["register-with-taints"] or "").split(",") if t]:
            kv, _, effect = t.partition(":")
            k, _, v = kv.partition("=")
            taints.append(dict({"key": k, "effect": effect}, **({"value": v} if v else {})))
        spec = {"taints": taints} if taints else {}
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node, "labels": labels,
                             "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": self.endpoint,
                                             "node.alpha.kubernetes.io/ttl": "0",
                                             "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": spec}

    def node_status(self, rt_ok, net_ok, message):
        now = util.rfc3339()
        ready = "True" if rt_ok and net_ok else "False"
        conds = []
        for ctype, st, reason, msg in (
                ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ("Ready", ready, "KubeletReady" if ready == "True" else "KubeletNotReady", message)):
            prev = self.ready_since.get(ctype)
            if not prev or prev[0] != st:
                self.ready_since[ctype] = (st, now)
            conds.append({"type": ctype, "status": st, "lastHeartbeatTime": now,
                          "lastTransitionTime": self.ready_since[ctype][1], "reason": reason, "message": msg})
        os_release = (util.read_text("/etc/os-release", "") or "").splitlines()
        osr = dict(line.split("=", 1) for line in os_release if "=" in line)
        mem_kb = 0
        for line in (util.read_text("/proc/meminfo", "") or "").splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        cap = {"cpu": str(os.cpu_count() or 1), "memory": "%dKi" % mem_kb, "pods": "110",
               "ephemeral-storage": "20134592Ki", "hugepages-2Mi": "0"}
        return {"conditions": conds,
                "addresses": [{"type": "InternalIP", "address": self.node_ip},
                              {"type": "Hostname", "address": self.node}],
                "capacity": cap, "allocatable": cap,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"architecture": common.arch(),
                             "bootID": (util.read_text("/proc/sys/kernel/random/boot_id", "") or "").strip(),
                             "containerRuntimeVersion": self.runtime_version, "kernelVersion": os.uname().release,
                             "kubeProxyVersion": "", "kubeletVersion": "v" + VERSION,
                             "machineID": (util.read_text("/etc/machine-id", "") or "").strip(),
                             "operatingSystem": "linux", "osImage": osr.get("PRETTY_NAME", "Linux").strip('"'),
                             "systemUUID": (util.read_text("/etc/machine-id", "") or "").strip()}}

    def post_status(self, rt_ok, net_ok, message):
        path = "/api/v1/nodes/" + self.node
        if not self.registered:
            try:
                self.api.create("/api/v1/nodes", self.node_object())
                util.klog("I", '"Successfully registered node" node="%s"' % self.node)
            except kclient.ApiError as e:
                if e.code != 409:
                    raise
            self.registered = True
        # a node deleted from the cluster is not registered again until the kubelet restarts (as upstream)
        self.api.patch(path + "/status", {"status": self.node_status(rt_ok, net_ok, message)})

    # ---- pods ------------------------------------------------------------------------------------------
    def sync_mirror_pods(self, manifests, active):
        existing = {p["metadata"]["name"]: p for p in self.api.get(
            "/api/v1/namespaces/kube-system/pods", fieldSelector="spec.nodeName=" + self.node)["items"]}
        for name, (pod, h) in manifests.items():
            mname = "%s-%s" % (name, self.node)
            running = active.get(name, (False,))[0]
            status = {"phase": "Running" if running else "Pending", "hostIP": self.node_ip, "podIP": self.node_ip,
                      "conditions": [{"type": "Ready", "status": "True" if running else "False"}],
                      "containerStatuses": [{"name": c.get("name"), "ready": running, "restartCount": 0,
                                             "image": c.get("image"), "started": running}
                                            for c in (pod.get("spec") or {}).get("containers") or []]}
            if mname not in existing:
                m = json.loads(json.dumps(pod))
                m["metadata"]["name"] = mname
                m["metadata"].setdefault("annotations", {})["kubernetes.io/config.mirror"] = h
                m["metadata"]["annotations"]["kubernetes.io/config.source"] = "file"
                m["spec"]["nodeName"] = self.node
                m["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node,
                                                     "uid": "", "controller": True}]
                m["status"] = status
                try:
                    self.api.create("/api/v1/namespaces/kube-system/pods", m)
                except kclient.ApiError as e:
                    if e.code != 409:
                        raise
            elif existing[mname].get("status", {}).get("phase") != status["phase"]:
                self.api.patch("/api/v1/namespaces/kube-system/pods/%s/status" % mname, {"status": status})

    def sync_pods(self, rt_ok, net_ok):
        pods = self.api.get("/api/v1/pods", fieldSelector="spec.nodeName=" + self.node)["items"]
        pods = [p for p in pods if "kubernetes.io/config.mirror" not in (p["metadata"].get("annotations") or {})]
        active = self.addons.sync([p for p in pods if images.stood_in(p)])
        for pod in pods:
            if images.stood_in(pod):
                self.sync_stood_in_pod(pod, net_ok, active.get(pod["metadata"]["uid"]))
        if rt_ok:
            try:
                self.cri_pods.sync([p for p in pods if not images.stood_in(p)], net_ok)
            except cri.RPCError as e:
                util.klog("E", "running pods through the container runtime failed: %s" % e)

    def sync_stood_in_pod(self, pod, net_ok, active=None):
        """An add-on's pod: running while its program's unit runs (`active`); one the lab has no program of,
        reported running once it could run."""
        spec = pod.get("spec") or {}
        host_net = bool(spec.get("hostNetwork"))
        can_run = (host_net or net_ok) if active is None else active
        uid = pod["metadata"].get("uid")
        # like the real kubelet, init containers run when this host has no sandbox of the pod yet
        # (also after a rejoin from a fresh disk, where the API still says Running)
        pod_dir = os.path.join(common.KUBELET_DIR, "pods", uid or pod["metadata"]["name"])
        if can_run and not os.path.isdir(pod_dir):
            self.run_init_containers(pod)
            os.makedirs(pod_dir, exist_ok=True)
        if can_run and not host_net and uid not in self.pod_ips:
            self.pod_ips[uid] = self.pod_ip()
        ip = self.node_ip if host_net else self.pod_ips.get(uid)
        status = {"phase": "Running" if can_run else "Pending", "hostIP": self.node_ip,
                  "conditions": [{"type": "Ready", "status": "True" if can_run else "False"},
                                 {"type": "PodScheduled", "status": "True"}]}
        if ip:
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        if not can_run:
            status["containerStatuses"] = [{"name": c.get("name"), "ready": False, "restartCount": 0,
                                            "state": {"waiting": {"reason": "ContainerCreating"}}}
                                           for c in spec.get("containers") or []]
        else:
            status["containerStatuses"] = [{"name": c.get("name"), "ready": True, "restartCount": 0,
                                            "image": c.get("image"), "started": True,
                                            "state": {"running": {"startedAt": util.rfc3339()}}}
                                           for c in spec.get("containers") or []]
        cur = pod.get("status") or {}
        if cur.get("phase") != status["phase"] or cur.get("podIP") != status.get("podIP"):
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            try:
                self.api.patch("/api/v1/namespaces/%s/pods/%s/status" % (ns, name), {"status": status})
            except kclient.ApiError as e:
                if e.code != 404:
                    raise

    def pod_ip(self):
        try:
            node = self.api.get("/api/v1/nodes/" + self.node)
            cidr = (node.get("spec") or {}).get("podCIDR")
        except kclient.ApiError:
            cidr = None
        if not cidr:
            return None
        import ipaddress
        net = ipaddress.ip_network(cidr)
        return str(net.network_address + random.randint(2, min(net.num_addresses - 2, 250)))

    def run_init_containers(self, pod):
        """Carry out `cp [-f] SRC DST` init containers whose SRC is in a ConfigMap volume and DST in a hostPath."""
        spec = pod.get("spec") or {}
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        for c in spec.get("initContainers") or []:
            argv = list(c.get("command") or []) + list(c.get("args") or [])
            if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh") and argv[1] == "-c":
                argv = shlex.split(argv[2])
            if not argv or os.path.basename(argv[0]) != "cp":
                continue
            paths = [a for a in argv[1:] if not a.startswith("-")]
            if len(paths) != 2:
                continue
            src, dst = paths
            data = self.read_volume_file(pod, c, volumes, src)
            host = self.host_path(c, volumes, dst)
            if data is None or host is None:
                continue
            if os.path.isdir(host):
                host = os.path.join(host, os.path.basename(src))
            if util.read_text(host) != data:
                util.write_file(host, data, 0o644)
                util.klog("I", "pod %s/%s: init container %s wrote %s" % (pod["metadata"]["namespace"],
                                                                          pod["metadata"]["name"], c.get("name"), host))

    def _mount_for(self, container, path):
        best = None
        for m in container.get("volumeMounts") or []:
            mp = m.get("mountPath", "").rstrip("/")
            if path == mp or path.startswith(mp + "/"):
                if best is None or len(mp) > len(best[1]):
                    best = (m, mp)
        return best

    def read_volume_file(self, pod, container, volumes, path):
        found = self._mount_for(container, path)
        if not found:
            return None
        mount, mp = found
        vol = volumes.get(mount.get("name")) or {}
        rel = path[len(mp):].lstrip("/")
        if mount.get("subPath"):
            rel = mount["subPath"]
        cm = vol.get("configMap")
        if not cm:
            return None
        keymap = {it["path"]: it["key"] for it in cm.get("items") or []}
        key = keymap.get(rel, rel)
        try:
            obj = self.api.get("/api/v1/namespaces/%s/configmaps/%s" % (pod["metadata"]["namespace"], cm["name"]))
        except kclient.ApiError:
            return None
        return (obj.get("data") or {}).get(key)

    def host_path(self, container, volumes, path):
        found = self._mount_for(container, path)
        if not found:
            return None
        mount, mp = found
        vol = volumes.get(mount.get("name")) or {}
        hp = (vol.get("hostPath") or {}).get("path")
        if not hp:
            return None
        rel = path[len(mp):].lstrip("/")
        return os.path.join(hp, rel) if rel else hp

    # ---- main loop -------------------------------------------------------------------------------------
    def run(self):
        while True:
            started = time.monotonic()
            rt_ok, net_ok, message = self.runtime_state()
            manifests = {}
            active = {}
            if self.static.path:
                try:
                    manifests = self.static.sync(rt_ok)
                    active = StaticPods.running()
                except OSError as e:
                    util.klog("E", "static pods: %s" % e)
            try:
                if self.api is None:
                    self.connect()
                if self.api is not None:
                    first_ready = rt_ok and net_ok and not self.reported_ready
                    if first_ready or time.monotonic() - self.last_status >= self.status_every:
                        self.post_status(rt_ok, net_ok, message)
                        self.last_status = time.monotonic()
                        self.reported_ready = self.reported_ready or (rt_ok and net_ok)
                    self.sync_mirror_pods(manifests, active)
                    self.sync_pods(rt_ok, net_ok)
            except (kclient.ApiError, kclient.ConnectError, OSError, ValueError) as e:
                util.klog("E", "sync with the API server failed: %s" % e)
            self.pause(max(0.5, 2 - (time.monotonic() - started)))

    def pause(self, seconds):
        """Waits until the next sync: for seconds, or until a pod bound to this node changed; before the node
        was first reported Ready, also until it could be."""
        deadline = time.monotonic() + seconds
        while not self.reported_ready and self.api is not None and time.monotonic() < deadline:
            if self.pods_changed(FAST_STATUS_INTERVAL):
                return
            rt_ok, net_ok, _ = self.runtime_state()
            if rt_ok and net_ok:
                return
        self.pods_changed(max(0.0, deadline - time.monotonic()))

    def pods_changed(self, timeout):
        if self.pod_changes is None:
            time.sleep(timeout)
            return False
        return self.pod_changes.wait(timeout)


def main(argv):
    flags = util.Flags({"config": "", "kubeconfig": "", "bootstrap-kubeconfig": "", "container-runtime-endpoint": "",
                        "hostname-override": "", "node-ip": "", "pod-infra-container-image": "", "fail-swap-on": True,
                        "version": False, "cgroup-driver": "", "v": "0", "node-labels": "",
                        "register-with-taints": "", "runtime-request-timeout": "", "fail-cgroupv1": False,
                        "help": False},
                       short={"h": "help", "v": "v"})
    try:
        # accept (and ignore) other real kubelet flags given as --name=value, e.g. from kubeletExtraArgs
        known = [a for a in argv if not a.startswith("--") or a[2:].partition("=")[0] in flags.spec]
        flags.parse(known)
    except util.UsageError as e:
        return fatal(str(e))
    if flags["version"]:
        print("Kubernetes v" + VERSION)
        return 0
    if flags["help"]:
        print("The kubelet is the primary \"node agent\" that runs on each node.\n\nUsage:\n  kubelet [flags]")
        return 0
    cfg_path = flags["config"]
    config = {}
    if cfg_path:
        text = util.read_text(cfg_path)
        if text is None:
            return fatal("failed to load kubelet config file, path: %s, error: failed to load Kubelet config file "
                         "%s, error failed to read kubelet config file \"%s\", error: open %s: no such file or "
                         "directory" % (cfg_path, cfg_path, cfg_path, cfg_path))
        try:
            config = util.yaml_load_all(text)[0]
        except Exception as e:
            return fatal("failed to load kubelet config file, path: %s, error: %s" % (cfg_path, e))
    fail_swap = config.get("failSwapOn", True) if "fail-swap-on" not in flags.changed else flags["fail-swap-on"]
    swaps = common.swap_devices()
    if fail_swap and swaps:
        return fatal("failed to run Kubelet: running with swap on is not supported, please disable swap or set "
                     "--fail-swap-on flag to false")
    flag = flags["fail-cgroupv1"] if "fail-cgroupv1" in flags.changed else None
    if rules.is_cgroup_v1() and rules.kubelet_fails_on_cgroup_v1(config, flag):
        return fatal("failed to run Kubelet: " + rules.KUBELET_CGROUP_V1)
    kubelet = Kubelet(flags, config)
    try:
        v = cri.version(kubelet.endpoint, timeout=5)
        kubelet.runtime_version = "%s://%s" % (v["runtimeName"], v["runtimeVersion"])
    except cri.RPCError as e:
        return fatal('failed to run Kubelet: validate service connection: validate CRI v1 runtime API for '
                     'endpoint "%s": %s' % (kubelet.endpoint, e))
    too_old = rules.runtime_too_old(v["runtimeName"], v["runtimeVersion"])
    if too_old:
        return fatal("failed to run Kubelet: " + too_old)
    try:
        serve(config.get("healthzBindAddress", "127.0.0.1"), int(config.get("healthzPort", 10248)), Healthz)
        serve(config.get("address", "0.0.0.0"), int(config.get("port", 10250)), Unauthorized, serving_context())
    except OSError as e:
        return fatal("failed to run Kubelet: %s" % e)
    util.klog("I", "kubelet version v%s started, node %s, runtime %s"
              % (VERSION, kubelet.node, kubelet.runtime_version))
    kubelet.run()
    return 0

