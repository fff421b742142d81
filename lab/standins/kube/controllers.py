"""kube-controller-manager: the controllers an installer's cluster visibly depends on.

- csrsigning/csrapproving: approve and sign kubelet client CSRs from bootstrap tokens and nodes
- nodelifecycle: mark a node's conditions Unknown when its kubelet stops posting status
  (--node-monitor-grace-period), and keep the not-ready/unreachable taints in step
- nodeipam: give each node a podCIDR from --cluster-cidr when --allocate-node-cidrs=true
- tokencleaner: delete expired bootstrap token secrets
- daemonset, deployment (+ a simple scheduler), podgc
- disruption: each PodDisruptionBudget's status (disruptionsAllowed, currentHealthy, desiredHealthy, expectedPods)
"""
import base64
import hashlib
import ipaddress
import json
import random
import time

from kube import client as kclient
from kube import disruption, endpoints, leaderelection, pki, util
from kube.components import flag_values, self_signed_context, serve_health

KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


# what the controllers act on: a change to any of these starts a pass at once (tokens expire with time and
# nodes go silent: the resync sees to those)
WATCHED = ("/api/v1/nodes", "/apis/certificates.k8s.io/v1/certificatesigningrequests", "/api/v1/pods",
           "/apis/apps/v1/daemonsets", "/apis/apps/v1/deployments", "/apis/apps/v1/replicasets",
           "/apis/apps/v1/statefulsets", "/apis/batch/v1/jobs", "/apis/policy/v1/poddisruptionbudgets",
           "/api/v1/services")
RESYNC = 1.0  # seconds between passes when nothing changed

# owners whose dependents (ReplicaSets, Pods) the garbage collector removes once the owner is gone
COLLECTED_OWNERS = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job")


def rand_suffix(n=5):
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def tolerates(tolerations, taint):
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t["key"] == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def fits(pod_spec, node, extra_tolerations=()):
    sel = pod_spec.get("nodeSelector") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in sel.items()):
        return False
    tols = list(pod_spec.get("tolerations") or []) + list(extra_tolerations)
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tols, taint):
            return False
    return True


def ready_status(node):
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status")
    return None


class Controllers:
    def __init__(self, api, opts):
        self.api = api
        self.grace = util.parse_duration(opts.get("node-monitor-grace-period", "20s"))
        self.ca_cert = util.read_text(opts.get("cluster-signing-cert-file", "/etc/kubernetes/pki/ca.crt"))
        self.ca_key = util.read_text(opts.get("cluster-signing-key-file", "/etc/kubernetes/pki/ca.key"))
        self.allocate = opts.get("allocate-node-cidrs") == "true"
        self.cluster_cidr = opts.get("cluster-cidr")
        self.seen = {}  # node name -> (heartbeat value, local monotonic time it last changed)

    def run_once(self):
        nodes = self.api.get("/api/v1/nodes")["items"]
        for step in (self.sign_csrs, lambda: self.node_lifecycle(nodes), lambda: self.node_ipam(nodes),
                     self.clean_tokens, lambda: self.daemonsets(nodes), self.deployments, self.replicasets,
                     self.statefulsets, self.jobs, self.budgets, self.garbage_collect, lambda: self.schedule(nodes),
                     lambda: self.pod_gc(nodes), lambda: endpoints.sync(self.api)):
            try:
                step()
            except (kclient.ApiError, kclient.ConnectError) as e:
                util.klog("E", "controller step failed: %s" % e)

    def sign_csrs(self):
        for csr in self.api.get("/apis/certificates.k8s.io/v1/certificatesigningrequests")["items"]:
            spec, st = csr.get("spec") or {}, csr.get("status") or {}
            if st.get("certificate") or any(c.get("type") == "Denied" for c in st.get("conditions") or []):
                continue
            if spec.get("signerName") != KUBELET_SIGNER:
                continue
            user = spec.get("username", "")
            if not (user.startswith("system:bootstrap:") or user.startswith("system:node:")):
                continue
            req = base64.b64decode(spec["request"])
            cn, orgs = pki.csr_subject(req)
            if not cn.startswith("system:node:") or orgs != ["system:nodes"]:
                self.set_csr_status(csr, [{"type": "Denied", "status": "True", "reason": "InvalidRequest",
                                           "message": "subject must be system:node:<name> in system:nodes"}])
                continue
            if user.startswith("system:node:") and user != cn:
                continue
            cert, _ = pki.sign(self.ca_cert, self.ca_key, cn, orgs, client=True, csr=req)
            self.set_csr_status(csr, [{"type": "Approved", "status": "True", "reason": "AutoApproved",
                                       "message": "Auto approving kubelet client certificate after "
                                                  "SubjectAccessReview.",
                                       "lastUpdateTime": util.rfc3339(), "lastTransitionTime": util.rfc3339()}],
                                base64.b64encode(cert).decode())

    def set_csr_status(self, csr, conditions, cert=None):
        status = {"conditions": conditions}
        if cert:
            status["certificate"] = cert
        name = csr["metadata"]["name"]
        self.api.replace("/apis/certificates.k8s.io/v1/certificatesigningrequests/%s/status" % name,
                         dict(csr, status=status))

    def node_lifecycle(self, nodes):
        now = time.monotonic()
        for node in nodes:
            name = node["metadata"]["name"]
            conds = (node.get("status") or {}).get("conditions") or []
            ready = next((c for c in conds if c.get("type") == "Ready"), None)
            hb = ready.get("lastHeartbeatTime") if ready else None
            prev = self.seen.get(name)
            if prev is None or prev[0] != hb:
                self.seen[name] = (hb, now)  # judge silence by our own clock, not the node's
                prev = self.seen[name]
            if ready and ready.get("status") != "Unknown" and now - prev[1] > self.grace:
                stamp = util.rfc3339()
                for c in conds:
                    c.update(status="Unknown", reason="NodeStatusUnknown",
                             message="Kubelet stopped posting node status.", lastTransitionTime=stamp)
                self.api.replace("/api/v1/nodes/%s/status" % name, node)
                util.klog("I", "node %s: Kubelet stopped posting node status" % name)
            self.sync_taints(node)

    def sync_taints(self, node):
        taints, keep = node_taints(node)
        if keep == taints:
            return
        # a change is decided again on the node as it is now, not as listed at the start of the loop: a taint
        # added since (kubeadm's control-plane taint, right after the node registered) must not be written over
        try:
            node = self.api.get("/api/v1/nodes/%s" % node["metadata"]["name"])
        except kclient.ApiError:
            return
        taints, keep = node_taints(node)
        if keep != taints:
            self.api.patch("/api/v1/nodes/%s" % node["metadata"]["name"], {"spec": {"taints": keep or None}})

    def node_ipam(self, nodes):
        if not self.allocate or not self.cluster_cidr:
            return
        net = ipaddress.ip_network(self.cluster_cidr.split(",")[0], strict=False)
        subnets = net.subnets(new_prefix=24) if net.prefixlen <= 24 else iter([net])
        used = {(n.get("spec") or {}).get("podCIDR") for n in nodes}
        for node in sorted(nodes, key=lambda n: n["metadata"]["creationTimestamp"]):
            if (node.get("spec") or {}).get("podCIDR"):
                continue
            for sn in subnets:
                if str(sn) not in used:
                    used.add(str(sn))
                    self.api.patch("/api/v1/nodes/%s" % node["metadata"]["name"],
                                   {"spec": {"podCIDR": str(sn), "podCIDRs": [str(sn)]}})
                    break

    def clean_tokens(self):
        """Expired bootstrap tokens go, and with them the Secrets they own (kubeadm-certs: garbage collection)."""
        from kube.apiserver import token_expired
        secrets = self.api.get("/api/v1/namespaces/kube-system/secrets")["items"]
        for sec in secrets:
            if sec.get("type") != "bootstrap.kubernetes.io/token":
                continue
            data = {k: base64.b64decode(v).decode() for k, v in (sec.get("data") or {}).items()}
            if token_expired(data):
                self.api.delete("/api/v1/namespaces/kube-system/secrets/" + sec["metadata"]["name"])
                secrets = [s for s in secrets if s is not sec]
        alive = {s["metadata"]["uid"] for s in secrets}
        for sec in secrets:
            refs = sec["metadata"].get("ownerReferences") or []
            if refs and all(r.get("kind") == "Secret" and r.get("uid") not in alive for r in refs):
                self.api.delete("/api/v1/namespaces/kube-system/secrets/" + sec["metadata"]["name"])

    def daemonsets(self, nodes):
        pods = self.api.get("/api/v1/pods")["items"]
        for ds in self.api.get("/apis/apps/v1/daemonsets")["items"]:
            ns, name, uid = ds["metadata"]["namespace"], ds["metadata"]["name"], ds["metadata"]["uid"]
            template = (ds.get("spec") or {}).get("template") or {}
            spec = template.get("spec") or {}
            owned = [p for p in pods if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])]
            by_node = {p["spec"].get("nodeName"): p for p in owned}
            wanted = [n for n in nodes if fits(spec, n, DEFAULT_TOLERATIONS)]
            for node in wanted:
                nn = node["metadata"]["name"]
                if nn in by_node:
                    continue
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "%s-%s" % (name, rand_suffix()), "namespace": ns,
                                    "labels": dict((template.get("metadata") or {}).get("labels") or {},
                                                   **{"pod-template-generation": "1"}),
                                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name,
                                                         "uid": uid, "controller": True,
                                                         "blockOwnerDeletion": True}]},
                       "spec": dict(spec, nodeName=nn,
                                    tolerations=list(spec.get("tolerations") or []) + DEFAULT_TOLERATIONS)}
                self.api.create("/api/v1/namespaces/%s/pods" % ns, pod)
            wanted_names = {n["metadata"]["name"] for n in wanted}
            for nn, p in by_node.items():
                if nn not in wanted_names:
                    self.delete_pod(p)
            ready = sum(1 for p in owned if p["spec"].get("nodeName") in wanted_names and pod_ready(p))
            st = {"currentNumberScheduled": len(wanted), "desiredNumberScheduled": len(wanted),
                  "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                  "updatedNumberScheduled": len(wanted), "observedGeneration": ds["metadata"].get("generation", 1)}
            if ds.get("status") != st:
                self.api.replace("/apis/apps/v1/namespaces/%s/daemonsets/%s/status" % (ns, name), dict(ds, status=st))
        # pods whose DaemonSet is gone
        live = {ds["metadata"]["uid"] for ds in self.api.get("/apis/apps/v1/daemonsets")["items"]}
        for p in pods:
            refs = [o for o in p["metadata"].get("ownerReferences") or [] if o.get("kind") == "DaemonSet"]
            if refs and refs[0].get("uid") not in live:
                self.delete_pod(p)

    def deployments(self):
        """Each Deployment owns one ReplicaSet per pod template (named by the template's hash, labelled
        pod-template-hash). The current template's ReplicaSet gets spec.replicas, older ones are scaled to 0
        (a rollout in one step); the Deployment's status adds up its ReplicaSets' pods."""
        rsets = self.api.get("/apis/apps/v1/replicasets")["items"]
        for d in self.api.get("/apis/apps/v1/deployments")["items"]:
            ns, name, uid = d["metadata"]["namespace"], d["metadata"]["name"], d["metadata"]["uid"]
            spec = d.get("spec") or {}
            want = spec.get("replicas", 1)
            template = spec.get("template") or {}
            digest = template_hash(template)
            owned = [r for r in rsets if owned_by(r, uid)]
            current = next((r for r in owned if (r["metadata"].get("labels") or {}).get("pod-template-hash")
                            == digest), None)
            if current is None:
                labels = dict((template.get("metadata") or {}).get("labels") or {}, **{"pod-template-hash": digest})
                selector = dict(((spec.get("selector") or {}).get("matchLabels") or {}),
                                **{"pod-template-hash": digest})
                rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                      "metadata": {"name": "%s-%s" % (name, digest), "namespace": ns, "labels": labels,
                                   "annotations": {"deployment.kubernetes.io/revision": str(len(owned) + 1)},
                                   "ownerReferences": [owner_ref("apps/v1", "Deployment", name, uid)]},
                      "spec": {"replicas": want, "selector": {"matchLabels": selector},
                               "template": dict(template, metadata=dict(template.get("metadata") or {},
                                                                        labels=labels))}}
                try:
                    current = self.api.create("/apis/apps/v1/namespaces/%s/replicasets" % ns, rs)
                except kclient.ApiError as e:
                    if e.code != 409:
                        raise
                    continue
                owned.append(current)
            for r in owned:
                replicas = want if r is current else 0
                if (r.get("spec") or {}).get("replicas") != replicas:
                    self.api.patch("/apis/apps/v1/namespaces/%s/replicasets/%s" % (ns, r["metadata"]["name"]),
                                   {"spec": {"replicas": replicas}})
            rst = lambda r, k: ((r.get("status") or {}).get(k) or 0)  # noqa: E731
            total = sum(rst(r, "replicas") for r in owned)
            updated = rst(current, "replicas")
            ready = sum(rst(r, "readyReplicas") for r in owned)
            available = sum(rst(r, "availableReplicas") for r in owned)
            st = {"replicas": total, "readyReplicas": ready, "availableReplicas": available,
                  "updatedReplicas": updated, "observedGeneration": d["metadata"].get("generation", 1)}
            if total - available > 0:
                st["unavailableReplicas"] = total - available
            done = updated >= want and total == updated and available >= want
            st["conditions"] = deployment_conditions((d.get("status") or {}).get("conditions") or [], [
                ("Available", available >= want,
                 "MinimumReplicasAvailable" if available >= want else "MinimumReplicasUnavailable",
                 "Deployment has minimum availability." if available >= want else
                 "Deployment does not have minimum availability."),
                ("Progressing", True, "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                 'ReplicaSet "%s" has %s.' % (current["metadata"]["name"],
                                              "successfully progressed" if done else "is progressing"))])
            if d.get("status") != st:
                self.api.replace("/apis/apps/v1/namespaces/%s/deployments/%s/status" % (ns, name), dict(d, status=st))

    def replicasets(self):
        """Each ReplicaSet keeps spec.replicas pods of its template (newest removed first when scaled down)."""
        pods = self.api.get("/api/v1/pods")["items"]
        for r in self.api.get("/apis/apps/v1/replicasets")["items"]:
            ns, name, uid = r["metadata"]["namespace"], r["metadata"]["name"], r["metadata"]["uid"]
            spec = r.get("spec") or {}
            want = spec.get("replicas", 1)
            template = spec.get("template") or {}
            owned = sorted((p for p in pods if owned_by(p, uid) and not p["metadata"].get("deletionTimestamp")),
                           key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
            for _ in range(want - len(owned)):
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "%s-%s" % (name, rand_suffix()), "namespace": ns,
                                    "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                                    "ownerReferences": [owner_ref("apps/v1", "ReplicaSet", name, uid)]},
                       "spec": dict(template.get("spec") or {})}
                owned.append(self.api.create("/api/v1/namespaces/%s/pods" % ns, pod))
            for p in owned[want:][::-1]:
                self.delete_pod(p)
            kept = owned[:want]
            ready = sum(1 for p in kept if pod_ready(p))
            st = {"replicas": len(kept), "fullyLabeledReplicas": len(kept), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": r["metadata"].get("generation", 1)}
            if r.get("status") != st:
                self.api.replace("/apis/apps/v1/namespaces/%s/replicasets/%s/status" % (ns, name), dict(r, status=st))

    def budgets(self):
        """The disruption controller: each budget's status from the pods it selects (kube/disruption.py)."""
        pods = self.api.get("/api/v1/pods")["items"]
        for pdb in self.api.get("/apis/policy/v1/poddisruptionbudgets")["items"]:
            ns, name = pdb["metadata"]["namespace"], pdb["metadata"]["name"]
            st = disruption.status(pdb, pods, util.rfc3339())
            if pdb.get("status") != st:
                self.api.replace("/apis/policy/v1/namespaces/%s/poddisruptionbudgets/%s/status" % (ns, name),
                                 dict(pdb, status=st))

    def statefulsets(self):
        """Pods <name>-0 .. <name>-(replicas-1), made in order, each once the one before is Ready (OrderedReady),
        removed from the highest ordinal down; a changed template replaces the pods from the highest down."""
        pods = self.api.get("/api/v1/pods")["items"]
        for s in self.api.get("/apis/apps/v1/statefulsets")["items"]:
            ns, name, uid = s["metadata"]["namespace"], s["metadata"]["name"], s["metadata"]["uid"]
            spec = s.get("spec") or {}
            want = spec.get("replicas", 1)
            template = spec.get("template") or {}
            revision = "%s-%s" % (name, template_hash(template))
            owned = {p["metadata"]["name"]: p for p in pods if owned_by(p, uid)}
            ordinal = lambda pod_name: int(pod_name.rsplit("-", 1)[1])  # noqa: E731
            extra = sorted((n for n in owned if ordinal(n) >= want), key=ordinal)
            if extra:
                self.delete_pod(owned[extra[-1]])
            else:
                stale = sorted((n for n in owned if (owned[n]["metadata"].get("labels") or {}).get(
                    "controller-revision-hash") != revision), key=ordinal)
                if stale and all(pod_ready(owned[n]) for n in owned if n not in stale):
                    self.delete_pod(owned[stale[-1]])
                for i in range(want):
                    pname = "%s-%d" % (name, i)
                    if pname not in owned:
                        labels = dict((template.get("metadata") or {}).get("labels") or {}, **{
                            "statefulset.kubernetes.io/pod-name": pname, "controller-revision-hash": revision,
                            "apps.kubernetes.io/pod-index": str(i)})
                        pod_spec = dict(template.get("spec") or {}, hostname=pname)
                        if spec.get("serviceName"):
                            pod_spec["subdomain"] = spec["serviceName"]
                        self.api.create("/api/v1/namespaces/%s/pods" % ns, {
                            "apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": pname, "namespace": ns, "labels": labels,
                                         "ownerReferences": [owner_ref("apps/v1", "StatefulSet", name, uid)]},
                            "spec": pod_spec})
                        break
                    if not pod_ready(owned[pname]):
                        break
            kept = [p for n, p in owned.items() if ordinal(n) < want]
            ready = sum(1 for p in kept if pod_ready(p))
            current = sum(1 for p in kept if (p["metadata"].get("labels") or {}).get("controller-revision-hash")
                          == revision)
            st = {"observedGeneration": s["metadata"].get("generation", 1), "replicas": len(kept),
                  "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": current,
                  "updatedReplicas": current, "currentRevision": revision if current == len(kept) else
                  (s.get("status") or {}).get("currentRevision", revision), "updateRevision": revision,
                  "collisionCount": 0}
            if s.get("status") != st:
                self.api.replace("/apis/apps/v1/namespaces/%s/statefulsets/%s/status" % (ns, name), dict(s, status=st))

    def jobs(self):
        """A Job runs up to parallelism pods at a time until completions of them succeeded (the kubelet here
        completes a Job's pod at once), then is Complete; backoffLimit failed pods make it Failed."""
        pods = self.api.get("/api/v1/pods")["items"]
        for j in self.api.get("/apis/batch/v1/jobs")["items"]:
            ns, name, uid = j["metadata"]["namespace"], j["metadata"]["name"], j["metadata"]["uid"]
            spec, old = j.get("spec") or {}, j.get("status") or {}
            if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                   for c in old.get("conditions") or []):
                continue
            completions, parallelism = spec.get("completions", 1), spec.get("parallelism", 1)
            template = spec.get("template") or {}
            owned = [p for p in pods if owned_by(p, uid)]
            phase = lambda p: (p.get("status") or {}).get("phase")  # noqa: E731
            succeeded = sum(1 for p in owned if phase(p) == "Succeeded")
            failed = sum(1 for p in owned if phase(p) == "Failed")
            active = [p for p in owned if phase(p) not in ("Succeeded", "Failed")]
            now = util.rfc3339()
            st = {"startTime": old.get("startTime") or now, "active": len(active), "succeeded": succeeded,
                  "failed": failed, "ready": sum(1 for p in active if pod_ready(p)), "terminating": 0}
            if succeeded >= completions:
                st.update(active=0, completionTime=now, conditions=[
                    {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                     "message": "Reached expected number of succeeded pods", "lastProbeTime": now,
                     "lastTransitionTime": now},
                    {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                     "message": "Reached expected number of succeeded pods", "lastProbeTime": now,
                     "lastTransitionTime": now}])
            elif failed > spec.get("backoffLimit", 6):
                st["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit", "lastProbeTime": now,
                                     "lastTransitionTime": now}]
            else:
                for _ in range(min(parallelism, completions - succeeded) - len(active)):
                    labels = dict((template.get("metadata") or {}).get("labels") or {}, **{
                        "batch.kubernetes.io/job-name": name, "job-name": name,
                        "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid})
                    self.api.create("/api/v1/namespaces/%s/pods" % ns, {
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "%s-%s" % (name, rand_suffix()), "namespace": ns, "labels": labels,
                                     "ownerReferences": [owner_ref("batch/v1", "Job", name, uid)]},
                        "spec": dict(template.get("spec") or {})})
            if old != st:
                self.api.replace("/apis/batch/v1/namespaces/%s/jobs/%s/status" % (ns, name), dict(j, status=st))

    def garbage_collect(self):
        """Deletes ReplicaSets and Pods whose owners are all gone (background cascading deletion)."""
        owners = set()
        for path in ("/apis/apps/v1/deployments", "/apis/apps/v1/replicasets", "/apis/apps/v1/daemonsets",
                     "/apis/apps/v1/statefulsets", "/apis/batch/v1/jobs", "/apis/policy/v1/poddisruptionbudgets",
           "/api/v1/services"):
            owners |= {o["metadata"]["uid"] for o in self.api.get(path)["items"]}
        for path in ("/apis/apps/v1/replicasets", "/api/v1/pods"):
            for obj in self.api.get(path)["items"]:
                refs = obj["metadata"].get("ownerReferences") or []
                if refs and all(ref.get("kind") in COLLECTED_OWNERS for ref in refs) and \
                        not any(ref.get("uid") in owners for ref in refs):
                    meta = obj["metadata"]
                    base, resource = path.rsplit("/", 1)
                    try:
                        self.api.delete("%s/namespaces/%s/%s/%s" % (base, meta["namespace"], resource, meta["name"]))
                    except kclient.ApiError as e:
                        if e.code != 404:
                            raise

    def schedule(self, nodes):
        """Bind pending pods to a Ready, schedulable node whose taints they tolerate (fewest pods first)."""
        pods = self.api.get("/api/v1/pods")["items"]
        load = {}
        for p in pods:
            load[p["spec"].get("nodeName")] = load.get(p["spec"].get("nodeName"), 0) + 1
        for p in pods:
            if p["spec"].get("nodeName"):
                continue
            cands = [n for n in nodes if ready_status(n) == "True" and not (n.get("spec") or {}).get("unschedulable")
                     and fits(p["spec"], n)]
            if not cands:
                self.unschedulable(p, nodes)
                continue
            node = min(cands, key=lambda n: (load.get(n["metadata"]["name"], 0), n["metadata"]["name"]))
            nn = node["metadata"]["name"]
            load[nn] = load.get(nn, 0) + 1
            self.api.patch("/api/v1/namespaces/%s/pods/%s" % (p["metadata"]["namespace"], p["metadata"]["name"]),
                           {"spec": {"nodeName": nn}})

    def unschedulable(self, pod, nodes):
        """PodScheduled False with the scheduler's reasons, as `kubectl describe pod` shows them."""
        reasons = {}
        for n in nodes:   # the first filter that fails, in the scheduler's order
            labels = n["metadata"].get("labels") or {}
            spec = n.get("spec") or {}
            taints = [t for t in spec.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")
                      and not tolerates(pod["spec"].get("tolerations"), t)]
            if spec.get("unschedulable"):
                why = "node(s) were unschedulable"
            elif taints:
                why = "node(s) had untolerated taint {%s: %s}" % (taints[0]["key"], taints[0].get("value", ""))
            elif any(labels.get(k) != v for k, v in (pod["spec"].get("nodeSelector") or {}).items()):
                why = "node(s) didn't match Pod's node affinity/selector"
            elif ready_status(n) != "True":
                why = "node(s) were not ready"
            else:
                why = "node(s) didn't fit"
            reasons[why] = reasons.get(why, 0) + 1
        message = "0/%d nodes are available: %s. preemption: 0/%d nodes are available: %d Preemption is not " \
            "helpful for scheduling." % (len(nodes), ", ".join(sorted("%d %s" % (count, why) for why, count in
                                                                      reasons.items())) or "no nodes registered",
                                         len(nodes), len(nodes))
        conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]
        current = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"]
        if current and current[0].get("message") == message:
            return
        conditions[0]["lastTransitionTime"] = util.rfc3339()
        try:
            self.api.patch("/api/v1/namespaces/%s/pods/%s/status" % (pod["metadata"]["namespace"],
                                                                     pod["metadata"]["name"]),
                           {"status": {"phase": "Pending", "conditions": conditions}})
        except kclient.ApiError as e:
            if e.code != 404:
                raise

    def pod_gc(self, nodes):
        names = {n["metadata"]["name"] for n in nodes}
        for p in self.api.get("/api/v1/pods")["items"]:
            nn = p["spec"].get("nodeName")
            if nn and nn not in names:
                self.delete_pod(p)

    def delete_pod(self, p):
        try:
            self.api.delete("/api/v1/namespaces/%s/pods/%s" % (p["metadata"]["namespace"], p["metadata"]["name"]))
        except kclient.ApiError as e:
            if e.code != 404:
                raise


def owned_by(obj, uid):
    return any(o.get("uid") == uid for o in obj["metadata"].get("ownerReferences") or [])


def owner_ref(api_version, kind, name, uid):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True,
            "blockOwnerDeletion": True}


def template_hash(template):
    """A short, stable name for a pod template (the real controller hashes it too)."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    digest = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    out = ""
    for _ in range(10):
        digest, i = divmod(digest, len(alphabet))
        out += alphabet[i]
    return out


def deployment_conditions(previous, wanted):
    """Deployment conditions (type, true?, reason, message); times move only when a condition changes."""
    before = {c.get("type"): c for c in previous}
    out = []
    for ctype, ok, reason, message in wanted:
        status = "True" if ok else "False"
        old = before.get(ctype) or {}
        now = util.rfc3339()
        same = old.get("status") == status and old.get("reason") == reason
        out.append({"type": ctype, "status": status, "reason": reason, "message": message,
                    "lastUpdateTime": old.get("lastUpdateTime", now) if same else now,
                    "lastTransitionTime": old.get("lastTransitionTime", now) if old.get("status") == status else now})
    return out


def node_taints(node):
    """(the node's taints, what they should be): the not-ready/unreachable taint in step with its Ready condition."""
    managed = {"False": "node.kubernetes.io/not-ready", "Unknown": "node.kubernetes.io/unreachable"}
    want = managed.get(ready_status(node))
    taints = (node.get("spec") or {}).get("taints") or []
    keep = [t for t in taints if t.get("key") not in managed.values()]
    if want:
        keep.append({"key": want, "effect": "NoSchedule"})
    return taints, keep


def pod_ready(p):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (p.get("status") or {}).get("conditions") or [])


def without_heartbeats(obj):
    """What the controllers act on in an object: all but its resourceVersion and the heartbeat times a kubelet
    renews every few seconds. (The real DaemonSet controller ignores such node updates too; node lifecycle
    reads heartbeats at every resync, on its own clock.)"""
    status = obj.get("status") or {}
    conditions = [dict(c, lastHeartbeatTime=None) for c in status.get("conditions") or []]
    return json.dumps(dict(obj, metadata=dict(obj["metadata"], resourceVersion=None),
                           status=dict(status, conditions=conditions)), sort_keys=True)


def watch(api):
    """The changes the controllers act on."""
    return kclient.Changes(api, WATCHED, fingerprint=without_heartbeats)


def run(ctrl, changes, resync=RESYNC):
    """Every controller once, then again as soon as a watched collection changed (the changes made during a
    pass, the controllers' own writes too, make one more pass) or after resync seconds; until changes closes."""
    while True:
        try:
            ctrl.run_once()
        except (kclient.ApiError, kclient.ConnectError, OSError, ValueError) as e:
            util.klog("E", "controller loop: %s" % e)
        changes.wait(resync)
        if changes.closed:
            return


def main(argv):
    opts = flag_values(argv)
    serve_health(opts.get("bind-address", "127.0.0.1"), int(opts.get("secure-port", "10257")),
                 self_signed_context("kube-controller-manager"))
    kubeconfig = opts.get("kubeconfig", "/etc/kubernetes/controller-manager.conf")
    while True:
        try:
            api = kclient.client_from_kubeconfig(kubeconfig, timeout=10)
            ctrl = Controllers(api, opts)
            break
        except (kclient.ApiError, kclient.ConnectError, OSError, ValueError) as e:
            util.klog("E", "controller loop: %s" % e)
            time.sleep(1)
    if opts.get("leader-elect", "true") == "true":   # one controller manager acts at a time (HA control planes)
        leaderelection.LeaderElector(api, opts, "kube-controller-manager").acquire()
    run(ctrl, watch(api))
