"""What the kubelet asks the container runtime for, from a pod's spec (kuberuntime's generatePodSandboxConfig and
generateContainerConfig): the sandbox (name, labels, hostname, DNS, port mappings, log directory, namespaces and the
cgroup slice of the pod's QoS class) and each container (image, command and args with $(VAR) expanded, env,
working dir, mounts of its volumes, resources, security context, log path). Encoded for kube/runtime.py."""
import os
import re

from kube import runtime, util

LABEL_NAME, LABEL_NAMESPACE = "io.kubernetes.pod.name", "io.kubernetes.pod.namespace"
LABEL_UID = "io.kubernetes.pod.uid"
LABEL_CONTAINER = "io.kubernetes.container.name"
PODS_DIR = "/var/lib/kubelet/pods"
LOGS_DIR = "/var/log/pods"
# cpu.cfs_period_us the kubelet gives every container with a CPU limit; the least cpu.shares
CPU_PERIOD, MIN_SHARES = 100000, 2
SUFFIXES = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9,
            "T": 10 ** 12, "m": 10 ** -3}


def quantity(text):
    """A resource quantity ('100m', '64Mi', '1.5', '2G') as a number (cores or bytes)."""
    m = re.fullmatch(r"([0-9.]+(?:[eE][0-9]+)?)([A-Za-z]*)", str(text).strip())
    if not m or m.group(2) not in SUFFIXES and m.group(2):
        return 0
    return float(m.group(1)) * SUFFIXES.get(m.group(2), 1)


def resources(container):
    r = container.get("resources") or {}
    return r.get("requests") or {}, r.get("limits") or {}


def qos_class(pod):
    """Guaranteed (every container's cpu and memory limited, requests equal), BestEffort (nothing asked), or
    Burstable."""
    containers = (pod.get("spec") or {}).get("containers") or []
    asked, guaranteed = False, True
    for c in containers:
        requests, limits = resources(c)
        asked = asked or any(quantity(v) for v in list(requests.values()) + list(limits.values()))
        for name in ("cpu", "memory"):
            if not limits.get(name) or quantity(requests.get(name, limits[name])) != quantity(limits[name]):
                guaranteed = False
    if not asked:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def cgroup_parent(pod):
    """The pod's slice, as the kubelet names it with the systemd cgroup driver."""
    uid = pod["metadata"]["uid"].replace("-", "_")
    qos = qos_class(pod)
    return "kubepods-pod%s.slice" % uid if qos == "Guaranteed" else "kubepods-%s-pod%s.slice" % (qos.lower(), uid)


def oom_score_adj(pod, container):
    """The kubelet's: -997 Guaranteed, 1000 BestEffort, else from the memory request against the node's memory."""
    qos = qos_class(pod)
    if qos == "Guaranteed":
        return -997
    if qos == "BestEffort":
        return 1000
    request = quantity(resources(container)[0].get("memory", 0))
    return max(2, min(999, int(1000 - 1000 * request / memory_capacity())))


def memory_capacity():
    for line in (util.read_text("/proc/meminfo", "") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 1 << 30


def pod_labels(pod):
    meta = pod["metadata"]
    return dict(meta.get("labels") or {}, **{LABEL_NAME: meta["name"], LABEL_NAMESPACE: meta["namespace"],
                                             LABEL_UID: meta["uid"]})


def log_directory(pod):
    meta = pod["metadata"]
    return os.path.join(LOGS_DIR, "%s_%s_%s" % (meta["namespace"], meta["name"], meta["uid"]))


def namespaces(spec):
    return runtime.message([(1, runtime.NS_NODE if spec.get("hostNetwork") else runtime.NS_POD),
                            (2, runtime.NS_NODE if spec.get("hostPID") else runtime.NS_POD
                             if spec.get("shareProcessNamespace") else runtime.NS_CONTAINER),
                            (3, runtime.NS_NODE if spec.get("hostIPC") else runtime.NS_POD)])


def dns_config(pod, cluster_dns, cluster_domain):
    """ClusterFirst: the cluster's DNS service and search domains (with host networking: the host's resolv.conf)."""
    spec, ns = pod.get("spec") or {}, pod["metadata"]["namespace"]
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "Default" or (policy == "ClusterFirst" and spec.get("hostNetwork")) or not cluster_dns:
        return b""
    searches = ["%s.svc.%s" % (ns, cluster_domain), "svc." + cluster_domain, cluster_domain]
    return runtime.message([(1, list(cluster_dns)), (2, searches), (3, ["ndots:5"])])


def sandbox_config(pod, attempt, cluster_dns=(), cluster_domain="cluster.local"):
    """PodSandboxConfig, encoded."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    ports = []
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            ports.append(runtime.message([(1, runtime.PROTOCOLS.get(p.get("protocol") or "TCP", 0)),
                                          (2, int(p.get("containerPort") or 0)), (3, int(p.get("hostPort") or 0)),
                                          (4, p.get("hostIP") or "")]))
    privileged = any(((c.get("securityContext") or {}).get("privileged")) for c in spec.get("containers") or [])
    security = runtime.message([(1, namespaces(spec)), (6, bool(privileged))])
    sysctls = {s["name"]: str(s.get("value", "")) for s in (spec.get("securityContext") or {}).get("sysctls") or []}
    linux = runtime.message([(1, cgroup_parent(pod)), (2, security), (3, sysctls)])
    # (a pod on the host's network has the host's name: the kubelet gives none)
    hostname = "" if spec.get("hostNetwork") else (spec.get("hostname") or meta["name"])
    annotations = dict(meta.get("annotations") or {}, **{"kubernetes.io/config.source": "api"})
    return runtime.message([
        (1, runtime.message([(1, meta["name"]), (2, meta["uid"]), (3, meta["namespace"]), (4, attempt)])),
        (2, hostname), (3, log_directory(pod)), (4, dns_config(pod, cluster_dns, cluster_domain)), (5, ports),
        (6, pod_labels(pod)), (7, annotations), (8, linux)])


def expand(text, env):
    """$(VAR) from env; $$ is a literal $; an unknown $(VAR) stays as written (the kubelet's expansion)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def service_env(pod, services):
    """The variables the kubelet gives every container for the Services of its namespace (enableServiceLinks, the
    default) and for default/kubernetes: WEB_SERVICE_HOST, WEB_SERVICE_PORT, WEB_PORT_80_TCP_ADDR, ..."""
    ns, links = pod["metadata"]["namespace"], (pod.get("spec") or {}).get("enableServiceLinks", True)
    env = {}
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ip, ports = spec.get("clusterIP"), spec.get("ports") or []
        wanted = (meta["namespace"], meta["name"]) == ("default", "kubernetes") or (links and meta["namespace"] == ns)
        if not wanted or not ip or ip == "None" or not ports:
            continue
        name = meta["name"].upper().replace("-", "_")
        env[name + "_SERVICE_HOST"], env[name + "_SERVICE_PORT"] = ip, str(ports[0]["port"])
        for port in ports:
            proto = (port.get("protocol") or "TCP").lower()
            if port.get("name"):
                env["%s_SERVICE_PORT_%s" % (name, port["name"].upper().replace("-", "_"))] = str(port["port"])
            prefix = "%s_PORT_%d_%s" % (name, port["port"], proto.upper())
            env[prefix] = "%s://%s:%d" % (proto, ip, port["port"])
            env.update({prefix + "_PROTO": proto, prefix + "_PORT": str(port["port"]), prefix + "_ADDR": ip})
        env[name + "_PORT"] = "%s://%s:%d" % ((ports[0].get("protocol") or "TCP").lower(), ip, ports[0]["port"])
    return env


def container_env(pod, container, pod_ip, host_ip, lookup, services=()):
    """The container's environment: the Services' variables, then envFrom, then env, each value expanded against
    what came before. `lookup(kind, name, key)`: a ConfigMap's or Secret's value (None when missing)."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    fields = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "metadata.uid": meta["uid"],
              "spec.nodeName": spec.get("nodeName", ""), "spec.serviceAccountName": spec.get("serviceAccountName", ""),
              "status.podIP": pod_ip, "status.hostIP": host_ip}
    env = service_env(pod, services)
    for source in container.get("envFrom") or []:
        for kind, ref in (("configmaps", source.get("configMapRef")), ("secrets", source.get("secretRef"))):
            if ref:
                env.update({(source.get("prefix") or "") + k: v for k, v in (lookup(kind, ref["name"], None) or {})
                            .items()})
    for item in container.get("env") or []:
        source = item.get("valueFrom") or {}
        if "value" in item or not source:
            env[item["name"]] = expand(str(item.get("value", "")), env)
        elif source.get("fieldRef"):
            path = source["fieldRef"].get("fieldPath", "")
            label = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
            env[item["name"]] = ((meta.get(label.group(1)) or {}).get(label.group(2), "") if label
                                 else fields.get(path, ""))
        elif source.get("configMapKeyRef") or source.get("secretKeyRef"):
            ref = source.get("configMapKeyRef") or source["secretKeyRef"]
            value = lookup("configmaps" if source.get("configMapKeyRef") else "secrets", ref["name"], ref["key"])
            if value is not None:
                env[item["name"]] = value
    return env


def volume_dir(pod, volume):
    """Where a volume's files are on the host (an emptyDir, a ConfigMap's or Secret's files, a hostPath), or None
    for a kind the lab does not mount."""
    uid = pod["metadata"]["uid"]
    for kind, plugin in (("emptyDir", "empty-dir"), ("configMap", "configmap"), ("secret", "secret"),
                         ("projected", "projected"), ("downwardAPI", "downward-api")):
        if kind in volume:
            return os.path.join(PODS_DIR, uid, "volumes", "kubernetes.io~" + plugin, volume["name"])
    if "hostPath" in volume:
        return volume["hostPath"].get("path")
    return None


def mounts(pod, container):
    volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
    out = []
    for m in container.get("volumeMounts") or []:
        directory = volume_dir(pod, volumes.get(m.get("name")) or {"name": m.get("name")})
        if directory is None:
            continue
        if m.get("subPath"):
            directory = os.path.join(directory, m["subPath"])
        out.append(runtime.message([(1, m["mountPath"]), (2, directory), (3, bool(m.get("readOnly")))]))
    return out


def linux_config(pod, container):
    requests, limits = resources(container)
    cpu_request, cpu_limit = quantity(requests.get("cpu", limits.get("cpu", 0))), quantity(limits.get("cpu", 0))
    shares = max(MIN_SHARES, int(cpu_request * 1024)) if cpu_request else MIN_SHARES
    quota = int(cpu_limit * CPU_PERIOD) if cpu_limit else 0
    memory = int(quantity(limits.get("memory", 0)))
    resource = runtime.message([(1, CPU_PERIOD if quota else 0), (2, quota), (3, shares), (4, memory),
                                (5, oom_score_adj(pod, container))])
    security = container.get("securityContext") or {}
    capabilities = security.get("capabilities") or {}
    run_as = security.get("runAsUser", ((pod.get("spec") or {}).get("securityContext") or {}).get("runAsUser"))
    context = runtime.message([
        (1, runtime.message([(1, list(capabilities.get("add") or [])), (2, list(capabilities.get("drop") or []))])),
        (2, bool(security.get("privileged"))), (3, namespaces(pod.get("spec") or {})),
        (5, runtime.message([(1, int(run_as))]) if run_as is not None else b""),
        (7, bool(security.get("readOnlyRootFilesystem"))),
        (11, security.get("allowPrivilegeEscalation") is False)])
    return runtime.message([(1, resource), (2, context)])


def container_config(pod, container, attempt, env, image):
    """ContainerConfig, encoded (env: the container's resolved environment)."""
    meta = pod["metadata"]
    command = [expand(str(a), env) for a in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    labels = {LABEL_CONTAINER: container["name"], LABEL_NAME: meta["name"], LABEL_NAMESPACE: meta["namespace"],
              LABEL_UID: meta["uid"]}
    annotations = {"io.kubernetes.container.restartCount": str(attempt),
                   "io.kubernetes.pod.terminationGracePeriod": str(grace_period(pod))}
    return runtime.message([
        (1, runtime.message([(1, container["name"]), (2, attempt)])), (2, runtime.message([(1, image)])),
        (3, command), (4, args), (5, container.get("workingDir") or ""),
        (6, [runtime.message([(1, k), (2, v.encode())]) for k, v in env.items()]),
        (7, mounts(pod, container)), (9, labels), (10, annotations),
        (11, "%s/%d.log" % (container["name"], attempt)), (12, bool(container.get("stdin"))),
        (13, bool(container.get("stdinOnce"))), (14, bool(container.get("tty"))), (15, linux_config(pod, container))])


def grace_period(pod):
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return 30 if value is None else int(value)
