"""Pods run for real through the container runtime's CRI, as the kubelet's kuberuntime does: each pod bound to the
node gets a pod sandbox (its network namespace, the CNI network, the pause container) and its containers (init
containers first, in order); a container that ends is started again as the pod's restartPolicy says, after the
kubelet's back-off; an image that cannot be pulled is ErrImagePull with the runtime's reason, then ImagePullBackOff.
The pod's status is what the runtime reports (states, exit codes, restarts, the sandbox's IP); a container is ready
while it runs. A pod that is gone from the API has its containers stopped (SIGTERM, SIGKILL after its grace period)
and its sandbox removed."""
import base64
import os
import shutil
import subprocess
import time

from kube import client as kclient
from kube import cri, podconfig, runtime, util

BACKOFF_START, BACKOFF_MAX = 10.0, 300.0   # the kubelet's image pull and crash loop back-off (doubling)


def rfc3339(nanoseconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(nanoseconds / 1e9)) if nanoseconds else None


class Backoff:
    """Per key: not before a time, each failure doubling the wait (10 s up to 300 s)."""

    def __init__(self):
        self.entries = {}

    def waiting(self, key):
        return key in self.entries and time.monotonic() < self.entries[key][0]

    def failed(self, key):
        delay = min(BACKOFF_MAX, self.entries[key][1] * 2) if key in self.entries else BACKOFF_START
        self.entries[key] = (time.monotonic() + delay, delay)

    def forget(self, key):
        self.entries.pop(key, None)


class CriPods:
    def __init__(self, endpoint, node, node_ip, api, cluster_dns=(), cluster_domain="cluster.local"):
        self.endpoint, self.node, self.node_ip, self.api = endpoint, node, node_ip, api
        self.cluster_dns, self.cluster_domain = list(cluster_dns), cluster_domain
        self.pulls, self.crashes = Backoff(), Backoff()
        self.pull_errors = {}     # (uid, image) -> the runtime's last reason
        self.waiting = {}         # (uid, container name) -> {"reason", "message"} of its last failed start
        self.known = {}           # uid -> the pod as last seen (its grace period once it is gone)
        self.reported = {}        # uid -> the status last written

    # ---- the loop's step ----------------------------------------------------------------------------------
    def sync(self, pods, net_ok=True):
        """Runs `pods` (the API's pods of this node the runtime runs) and nothing else; writes their statuses. While
        the runtime's network is not ready, only pods on the host's network get a sandbox."""
        wanted = {p["metadata"]["uid"]: p for p in pods}
        sandboxes = runtime.sandboxes(self.endpoint)
        containers = runtime.containers(self.endpoint)
        by_uid = {}
        for s in sandboxes:
            uid = s["labels"].get(podconfig.LABEL_UID)
            if uid:
                by_uid.setdefault(uid, []).append(s)
        for uid in set(by_uid) - set(wanted):
            self.kill(uid, by_uid[uid], containers)
        for uid, pod in wanted.items():
            self.known[uid] = pod
            try:
                status = self.sync_pod(pod, by_uid.get(uid, []), containers, net_ok)
            except cri.RPCError as e:
                util.klog("E", "pod %s/%s: %s" % (pod["metadata"]["namespace"], pod["metadata"]["name"], e))
                continue
            self.report(pod, status)

    def kill(self, uid, sandboxes, containers):
        pod = self.known.pop(uid, None)
        grace = podconfig.grace_period(pod) if pod else 30
        ids = {s["id"] for s in sandboxes}
        for c in containers:
            if c["sandbox"] in ids:
                if c["state"] == runtime.RUNNING:
                    runtime.stop_container(self.endpoint, c["id"], grace)
                runtime.remove_container(self.endpoint, c["id"])
        for s in sandboxes:
            runtime.stop_sandbox(self.endpoint, s["id"])
            runtime.remove_sandbox(self.endpoint, s["id"])
        # the pod's cgroup (its slice, which systemd made for runc), as the kubelet removes it
        subprocess.run(["systemctl", "stop", "kubepods*-pod%s.slice" % uid.replace("-", "_")], capture_output=True)
        shutil.rmtree(os.path.join(podconfig.PODS_DIR, uid), ignore_errors=True)
        for s in sandboxes[:1]:
            shutil.rmtree(os.path.join(podconfig.LOGS_DIR, "%s_%s_%s" % (s["namespace"], s["name"], uid)),
                          ignore_errors=True)
        for key in [k for k in list(self.waiting) + list(self.pull_errors) if k[0] == uid]:
            self.waiting.pop(key, None)
            self.pull_errors.pop(key, None)
        self.reported.pop(uid, None)
        util.klog("I", "pod %s removed: its containers stopped, its sandbox removed" % uid)

    # ---- one pod ------------------------------------------------------------------------------------------
    def sync_pod(self, pod, sandboxes, all_containers, net_ok=True):
        spec = pod.get("spec") or {}
        last = self.last_status(pod)
        if last.get("phase") in ("Succeeded", "Failed"):   # (also as the API has it, after a restart)
            for s in sandboxes:
                if s["ready"]:
                    runtime.stop_sandbox(self.endpoint, s["id"])   # a finished pod keeps no network
            return last
        ready = [s for s in sandboxes if s["ready"]]
        sandbox = max(ready, key=lambda s: s["attempt"]) if ready else None
        attempt = max([s["attempt"] for s in sandboxes] or [-1]) + 1
        config = podconfig.sandbox_config(pod, sandbox["attempt"] if sandbox else attempt, self.cluster_dns,
                                          self.cluster_domain)
        if sandbox is None and not (net_ok or spec.get("hostNetwork")):
            return self.status(pod, None, {}, "")
        if sandbox is None:
            for s in sandboxes:   # a sandbox that died (its host rebooted): its containers go with it
                self.kill_sandbox(s, all_containers)
            self.prepare_volumes(pod)
            try:
                sandbox = {"id": runtime.run_sandbox(self.endpoint, config), "attempt": attempt}
            except cri.RPCError as e:
                util.klog("E", "pod %s/%s: failed to create its sandbox: %s" % (pod["metadata"]["namespace"],
                                                                                pod["metadata"]["name"], e))
                return self.status(pod, None, {}, "")
        ip = self.node_ip if spec.get("hostNetwork") else runtime.sandbox_ip(self.endpoint, sandbox["id"])
        mine = [c for c in all_containers if c["sandbox"] == sandbox["id"]]
        latest = {}
        for c in sorted(mine, key=lambda c: c["attempt"]):
            latest.setdefault(c["name"], []).append(c)
        states = {name: [runtime.container_status(self.endpoint, c["id"]) for c in found[-2:]]
                  for name, found in latest.items()}
        initialized = self.run_init_containers(pod, sandbox, config, states, ip)
        if initialized:
            for c in spec.get("containers") or []:
                self.keep_running(pod, c, sandbox, config, states.get(c["name"], []), ip)
        return self.status(pod, sandbox, states, ip, initialized)

    def kill_sandbox(self, sandbox, all_containers):
        for c in all_containers:
            if c["sandbox"] == sandbox["id"]:
                runtime.remove_container(self.endpoint, c["id"])
        runtime.stop_sandbox(self.endpoint, sandbox["id"])
        runtime.remove_sandbox(self.endpoint, sandbox["id"])

    def run_init_containers(self, pod, sandbox, config, states, ip):
        """True once every init container ended well; else starts the next one (or restarts a failed one)."""
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        for c in (pod.get("spec") or {}).get("initContainers") or []:
            history = states.get(c["name"], [])
            last = history[-1] if history else None
            if last and last["state"] == runtime.EXITED and last["exit_code"] == 0:
                continue
            if last is None or last["state"] == runtime.EXITED and policy != "Never":
                self.start(pod, c, sandbox, config, (last["attempt"] + 1) if last else 0, ip, last)
            return False
        return True

    def keep_running(self, pod, container, sandbox, config, history, ip):
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        last = history[-1] if history else None
        if last is None:
            self.start(pod, container, sandbox, config, 0, ip, None)
        elif last["state"] == runtime.EXITED and (policy == "Always" or policy == "OnFailure" and
                                                  last["exit_code"] != 0):
            self.start(pod, container, sandbox, config, last["attempt"] + 1, ip, last)
        elif last["state"] == runtime.RUNNING:
            self.crashes.forget((pod["metadata"]["uid"], container["name"]))

    def start(self, pod, container, sandbox, config, attempt, ip, previous):
        """Pull (or back off), create and start one container; what failed is kept for its status."""
        uid, name = pod["metadata"]["uid"], container["name"]
        key = (uid, name)
        if previous is not None:   # a restart waits out the crash back-off
            if self.crashes.waiting(key):
                self.waiting[key] = {"reason": "CrashLoopBackOff", "message": "back-off restarting failed "
                                     "container %s in pod %s_%s(%s)" % (name, pod["metadata"]["name"],
                                                                       pod["metadata"]["namespace"], uid)}
                return
            self.crashes.failed(key)
        image = self.pulled(pod, container, config)
        if image is None:
            return
        try:
            services = self.api.get("/api/v1/services")["items"]
        except (kclient.ApiError, kclient.ConnectError):
            services = []
        env = podconfig.container_env(pod, container, ip, self.node_ip, self.lookup(pod), services)
        try:
            cid = runtime.create_container(self.endpoint, sandbox["id"],
                                           podconfig.container_config(pod, container, attempt, env, image), config)
        except cri.RPCError as e:
            self.waiting[key] = {"reason": "CreateContainerError", "message": e.desc}
            return
        try:
            runtime.start_container(self.endpoint, cid)
        except cri.RPCError as e:
            self.waiting[key] = {"reason": "RunContainerError", "message": e.desc}
            return
        self.waiting.pop(key, None)
        if previous is not None:   # the kubelet keeps the last dead container only
            for old in runtime.containers(self.endpoint, sandbox["id"]):
                if old["name"] == name and old["attempt"] < previous["attempt"]:
                    runtime.remove_container(self.endpoint, old["id"])

    def pulled(self, pod, container, config):
        """The image, present (pulled when it must be); None while it cannot be pulled (its waiting reason kept)."""
        uid, image = pod["metadata"]["uid"], container["image"]
        key = (uid, container["name"])
        tag = image.rsplit("/", 1)[-1]
        policy = container.get("imagePullPolicy") or (
            "Always" if "@" not in tag and (":" not in tag or tag.endswith(":latest")) else "IfNotPresent")
        if policy != "Always" and runtime.image_ref(self.endpoint, image):
            return image
        if policy == "Never":
            self.waiting[key] = {"reason": "ErrImageNeverPull", "message": "Container image \"%s\" is not present "
                                                                           "with pull policy of Never" % image}
            return None
        if self.pulls.waiting((uid, image)):
            message = "Back-off pulling image \"%s\"" % image
            if (uid, image) in self.pull_errors:
                message += ": ErrImagePull: " + self.pull_errors[(uid, image)]
            self.waiting[key] = {"reason": "ImagePullBackOff", "message": message}
            return None
        try:
            runtime.pull_image(self.endpoint, image, config)
        except cri.RPCError as e:
            self.pulls.failed((uid, image))
            self.pull_errors[(uid, image)] = str(e)
            self.waiting[key] = {"reason": "ErrImagePull", "message": str(e)}
            self.event(pod, container, "Failed", "Failed to pull image \"%s\": %s" % (image, e))
            return None
        self.pulls.forget((uid, image))
        self.pull_errors.pop((uid, image), None)
        return image

    def lookup(self, pod):
        ns = pod["metadata"]["namespace"]

        def value(kind, name, key):
            try:
                data = self.api.get("/api/v1/namespaces/%s/%s/%s" % (ns, kind, name)).get("data") or {}
            except kclient.ApiError:
                return None
            if kind == "secrets":
                data = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
            return data if key is None else data.get(key)
        return value

    def prepare_volumes(self, pod):
        """The pod's volumes on the host: emptyDirs, a ConfigMap's or Secret's keys as files, hostPath folders."""
        lookup = self.lookup(pod)
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            directory = podconfig.volume_dir(pod, volume)
            if directory is None:
                continue
            if "hostPath" in volume:
                if (volume["hostPath"].get("type") or "") == "DirectoryOrCreate":
                    os.makedirs(directory, exist_ok=True)
                continue
            os.makedirs(directory, exist_ok=True)
            for kind, source in (("configmaps", volume.get("configMap")), ("secrets", volume.get("secret"))):
                if source:
                    data = lookup(kind, source.get("name") or source.get("secretName"), None) or {}
                    for k, v in data.items():
                        util.write_file(os.path.join(directory, k), v, 0o644)

    def event(self, pod, container, reason, message):
        meta = pod["metadata"]
        try:
            self.api.create("/api/v1/namespaces/%s/events" % meta["namespace"], {
                "apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": reason, "message": message,
                "metadata": {"name": "%s.%x" % (meta["name"], time.time_ns()), "namespace": meta["namespace"]},
                "involvedObject": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                                   "uid": meta["uid"], "apiVersion": "v1",
                                   "fieldPath": "spec.containers{%s}" % container["name"]},
                "source": {"component": "kubelet", "host": self.node}, "count": 1,
                "firstTimestamp": util.rfc3339(), "lastTimestamp": util.rfc3339()})
        except (kclient.ApiError, kclient.ConnectError) as e:
            util.klog("E", "could not record event %s: %s" % (reason, e))

    # ---- status -------------------------------------------------------------------------------------------
    def container_status(self, pod, container, history):
        key = (pod["metadata"]["uid"], container["name"])
        last = history[-1] if history else None
        out = {"name": container["name"], "image": container["image"], "imageID": "", "ready": False,
               "restartCount": last["attempt"] if last else 0, "started": False, "state": {}}
        if last:
            out["imageID"], out["containerID"] = last["image_ref"], "containerd://" + last["id"]
        if len(history) > 1 and history[-2]["state"] == runtime.EXITED:
            out["lastState"] = {"terminated": terminated(history[-2])}
        if last and last["state"] == runtime.RUNNING:
            out.update(ready=True, started=True, state={"running": {"startedAt": rfc3339(last["started"])}})
        elif key in self.waiting:
            out["state"] = {"waiting": dict(self.waiting[key])}
        elif last and last["state"] == runtime.EXITED:
            out["state"] = {"terminated": terminated(last)}
        else:
            out["state"] = {"waiting": {"reason": "ContainerCreating"}}
        return out

    def last_status(self, pod):
        """The status last written: this kubelet's, else (after a restart) the API's."""
        return self.reported.get(pod["metadata"]["uid"]) or pod.get("status") or {}

    def status(self, pod, sandbox, states, ip, initialized=False):
        spec = pod.get("spec") or {}
        policy = spec.get("restartPolicy") or "Always"
        inits = [self.container_status(pod, c, states.get(c["name"], [])) for c in spec.get("initContainers") or []]
        mains = [self.container_status(pod, c, states.get(c["name"], [])) for c in spec.get("containers") or []]
        if not initialized:
            for s in mains:
                s["state"] = {"waiting": {"reason": "PodInitializing"}}
        ended = [s["state"]["terminated"]["exitCode"] for s in mains if "terminated" in s["state"]]
        if initialized and mains and len(ended) == len(mains) and (policy == "Never" or policy == "OnFailure" and
                                                                   not any(ended)):
            phase = "Failed" if any(ended) else "Succeeded"
        elif any(s["started"] or "lastState" in s or "terminated" in s["state"] for s in mains):
            phase = "Running"
        elif policy == "Never" and any("terminated" in s["state"] and s["state"]["terminated"]["exitCode"]
                                       for s in inits):
            phase = "Failed"
        else:
            phase = "Pending"
        ready = initialized and all(s["ready"] for s in mains) and phase == "Running"
        previous = {c["type"]: c for c in self.last_status(pod).get("conditions") or []}
        conditions = []
        for kind, value in (("PodReadyToStartContainers", sandbox is not None), ("Initialized", initialized),
                            ("Ready", ready), ("ContainersReady", ready), ("PodScheduled", True)):
            value = "True" if value else "False"
            since = previous[kind]["lastTransitionTime"] if kind in previous and previous[kind]["status"] == value \
                else util.rfc3339()
            conditions.append({"type": kind, "status": value, "lastTransitionTime": since})
        status = {"phase": phase, "conditions": conditions, "hostIP": self.node_ip, "hostIPs": [{"ip": self.node_ip}],
                  "qosClass": podconfig.qos_class(pod), "containerStatuses": mains,
                  "startTime": self.last_status(pod).get("startTime") or util.rfc3339()}
        if inits:
            status["initContainerStatuses"] = inits
        if ip:
            status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
        return status

    def report(self, pod, status):
        uid = pod["metadata"]["uid"]
        unchanged = self.reported.get(uid) == status or (pod.get("status") or {}) == status
        self.reported[uid] = status
        if unchanged:
            return
        meta = pod["metadata"]
        try:
            self.api.patch("/api/v1/namespaces/%s/pods/%s/status" % (meta["namespace"], meta["name"]),
                           {"status": status})
        except kclient.ApiError as e:
            if e.code != 404:
                raise


def terminated(state):
    reason = state["reason"] or ("Completed" if state["exit_code"] == 0 else "Error")
    out = {"exitCode": state["exit_code"], "reason": reason, "startedAt": rfc3339(state["started"]),
           "finishedAt": rfc3339(state["finished"]), "containerID": "containerd://" + state["id"]}
    if state["message"]:
        out["message"] = state["message"]
    return out
