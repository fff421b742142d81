"""kubeadm's parts for a highly available control plane with stacked etcd, as the real kubeadm does them:

- upload-certs: the certificates and keys every control plane shares, sealed with the certificate key (AES-GCM,
  the key given as 64 hex digits) into the kube-system/kubeadm-certs Secret, owned by a bootstrap token of 2 h so
  both go together; a Role and RoleBinding let the joining nodes' bootstrap tokens read it;
- join --control-plane: the preflight of a control-plane join (a cluster without a controlPlaneEndpoint is
  refused), download-certs (a wrong key fails authentication), the node's own certificates, kubeconfigs and static
  pod manifests, then its etcd member: added as a learner through etcd's API, started with
  --initial-cluster-state=existing, promoted once in sync, waited for; the node marked control-plane;
- reset: the node's etcd member removed from the cluster first.
"""
import base64
import binascii
import os
import time

from kube import aesgcm, common, pki, util
from kube import client as kclient
from kube import etcd as etcdclient
from kube.kubeadm import (
    DEFAULT_TOKEN_GROUPS,
    Checks,
    PhaseError,
    create_or_replace,
    generate_token,
    out,
    token_secret,
)

CERTS_SECRET = "kubeadm-certs"
CERTS_ROLE = "kubeadm:kubeadm-certs"
CERTS_TOKEN_TTL = 2 * 3600
# what every control plane shares (kubeadm's certsToTransfer, local etcd), by file name under the pki directory
SHARED = ("ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key", "etcd/ca.crt",
          "etcd/ca.key")
NOT_READY = """
One or more conditions for hosting a new control plane instance is not satisfied.

%s

Please ensure that:
* The cluster has a stable controlPlaneEndpoint address.
* The certificates that must be shared among control plane instances are provided.

"""
ETCD_HEALTHY_RETRIES, ETCD_HEALTHY_INTERVAL = 8, 5.0   # kubeadm's etcdHealthyCheckRetries and -Interval
ANNOTATION = "kubeadm.kubernetes.io/etcd.advertise-client-urls"
ETCD_BACKOFF_STEPS = 9   # kubeadm's etcdBackoff: 50 ms, doubled each time (about 25 s in all)


def new_certificate_key():
    return os.urandom(32).hex()


def decoded_key(key):
    try:
        raw = binascii.unhexlify(key)
    except (binascii.Error, ValueError):
        bad = next((c for c in key if c not in "0123456789abcdefABCDEF"), None)
        why = "invalid byte: U+%04X %r" % (ord(bad), bad) if bad else "odd length hex string"
        raise PhaseError(None, "error decoding certificate key: encoding/hex: %s" % why.replace('"', "'"))
    if len(raw) not in (16, 24, 32):
        raise PhaseError(None, "crypto/aes: invalid key size %d" % len(raw))
    return raw


# ---- upload-certs / download-certs --------------------------------------------------------------------------

def upload_certs(api, pki_dir, key):
    """kubeadm's copycerts.UploadCerts: the shared files sealed with key into the kubeadm-certs Secret."""
    out('[upload-certs] Storing the certificates in Secret "%s" in the "kube-system" Namespace' % CERTS_SECRET)
    raw = decoded_key(key)
    token = generate_token()
    secret = token_secret(token, CERTS_TOKEN_TTL, "Proxy for managing TTL for the kubeadm-certs secret", usages=())
    secret["data"] = {k: v for k, v in secret["data"].items() if k != "auth-extra-groups"}   # no groups, no usages
    owner = create_or_replace(api, "/api/v1/namespaces/kube-system/secrets", secret)
    data = {}
    for name in SHARED:
        content = util.read_text(os.path.join(pki_dir, name))
        data[name.replace("/", "-")] = pki.b64(aesgcm.seal(raw, content.encode())) if content is not None else ""
    create_or_replace(api, "/api/v1/namespaces/kube-system/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": CERTS_SECRET, "namespace": "kube-system", "ownerReferences": [{
            "apiVersion": "v1", "kind": "Secret", "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "data": data})
    create_or_replace(api, "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": CERTS_ROLE, "namespace": "kube-system"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [CERTS_SECRET], "verbs": ["get"]}]})
    create_or_replace(api, "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": CERTS_ROLE, "namespace": "kube-system"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": CERTS_ROLE},
        "subjects": [{"kind": "Group", "name": DEFAULT_TOKEN_GROUPS}]})


def download_certs(boot, pki_dir, key):
    """kubeadm's copycerts.DownloadCerts, with the joining node's bootstrap token."""
    phase = "control-plane-prepare/download-certs"
    out('[download-certs] Downloading the certificates in Secret "%s" in the "kube-system" Namespace' % CERTS_SECRET)
    try:
        raw = decoded_key(key)
    except PhaseError as e:
        raise PhaseError(phase, "error downloading certs: " + e.msg)
    try:
        secret = boot.get("/api/v1/namespaces/kube-system/secrets/" + CERTS_SECRET)
    except kclient.ApiError as e:
        if e.code == 404:
            raise PhaseError(phase, 'error downloading certs: error downloading the secret: Secret "%s" was not '
                             'found in the "kube-system" Namespace. This Secret might have expired. Please, run '
                             '`kubeadm init phase upload-certs --upload-certs` on a control plane to generate a new '
                             'one' % CERTS_SECRET)
        raise PhaseError(phase, "error downloading certs: error downloading the secret: %s" % e.message)
    files = {}
    for name, sealed in (secret.get("data") or {}).items():
        try:
            files[name] = aesgcm.open_sealed(raw, base64.b64decode(sealed)) if sealed else b""
        except (aesgcm.AuthenticationError, ValueError) as e:
            raise PhaseError(phase, "error downloading certs: error decoding secret data with provided key: %s" % e)
    for name in SHARED:
        if name.replace("/", "-") not in files:
            raise PhaseError(phase, "error downloading certs: the Secret does not include the required certificate "
                             "or key - name: %s, path: %s" % (name, os.path.join(pki_dir, name)))
        if files[name.replace("/", "-")]:
            util.write_file(os.path.join(pki_dir, name), files[name.replace("/", "-")],
                            0o600 if name.endswith(".key") else 0o644)
    out('[download-certs] Saving the certificates to the folder: "%s"' % pki_dir)


# ---- join --control-plane ----------------------------------------------------------------------------------

def join_preflight(clusc, key, ignored, bind_port, pki_dir):
    """What a control-plane join checks once it has the cluster's configuration."""
    if not clusc.get("controlPlaneEndpoint"):
        raise PhaseError("preflight", NOT_READY % "unable to add a new control plane instance to a cluster that "
                         "doesn't have a stable controlPlaneEndpoint address")
    if not key:
        for name in SHARED:
            path = os.path.join(pki_dir, name)
            if not os.path.exists(path):
                what = "key" if name.endswith(".key") else "certificate"
                raise PhaseError("preflight", NOT_READY % "couldn't load the %s file %s: open %s: no such file or "
                                 "directory" % (what, path, path))
    from kube import kubeadm
    out("[preflight] Running pre-flight checks before initializing the new control plane instance")
    c = Checks(ignored)
    kubeadm.control_plane_checks(c, bind_port)
    c.finish()
    out("[preflight] Pulling images required for setting up a Kubernetes cluster")
    out("[preflight] This might take a minute or two, depending on the speed of your internet connection")
    out("[preflight] You can also perform this action beforehand using 'kubeadm config images pull'")
    kubeadm.pull_images(ignored, ["%s/etcd:%s" % (clusc.get("imageRepository") or "registry.k8s.io",
                                                  common.ETCD_VERSION)])


def prepare(boot, clusc, key, node_name, advertise, bind_port):
    """control-plane-prepare: shared certificates, this node's own, its kubeconfigs and static pod manifests."""
    from kube import kubeadm
    pki_dir = clusc.get("certificatesDir") or common.PKI_DIR
    if key:
        download_certs(boot, pki_dir, key)
    out('[certs] Using certificateDir folder "%s"' % pki_dir)
    net = clusc.get("networking") or {}
    svc_cidr = net.get("serviceSubnet") or "10.96.0.0/12"
    domain = net.get("dnsDomain") or "cluster.local"
    endpoint = clusc["controlPlaneEndpoint"]
    dns_names, ips = kubeadm.apiserver_sans(node_name, advertise, svc_cidr, domain, endpoint,
                                            (clusc.get("apiServer") or {}).get("certSANs") or [])
    kubeadm.leaf_certs(pki_dir, node_name, advertise, dns_names, ips)
    out('[certs] Valid certificates and keys now exist in "%s"' % pki_dir)
    out('[certs] Using the existing "sa" key')
    out("[kubeconfig] Generating kubeconfig files")
    out('[kubeconfig] Using kubeconfig folder "%s"' % common.KUBERNETES_DIR)
    ca_cert = util.read_text(os.path.join(pki_dir, "ca.crt")).encode()
    ca_key = util.read_text(os.path.join(pki_dir, "ca.key")).encode()
    server = "https://%s" % (endpoint if ":" in endpoint else "%s:%d" % (endpoint, bind_port))
    local = "https://%s:%d" % (advertise, bind_port)
    cluster = clusc.get("clusterName") or "kubernetes"
    for fname, user, orgs, srv in (("admin.conf", "kubernetes-admin", ["kubeadm:cluster-admins"], server),
                                   ("controller-manager.conf", "system:kube-controller-manager", [], local),
                                   ("scheduler.conf", "system:kube-scheduler", [], local)):
        out('[kubeconfig] Writing "%s" kubeconfig file' % fname)
        cert, ckey = pki.sign(ca_cert, ca_key, user, orgs, client=True)
        util.write_file(os.path.join(common.KUBERNETES_DIR, fname),
                        kclient.make_kubeconfig(srv, ca_cert, user, cluster, cert, ckey), 0o600)
    kubeadm.write_control_plane_manifests(advertise, bind_port, clusc)


def join_etcd(api, clusc, node_name, advertise):
    """control-plane-join/etcd: this node's etcd member, added to the cluster and started (stacked etcd)."""
    from kube import kubeadm
    phase = "control-plane-join/etcd"
    pki_dir = clusc.get("certificatesDir") or common.PKI_DIR
    peer = "https://%s:2380" % advertise
    try:
        etcd = cluster_client(api, pki_dir)
    except (etcdclient.EtcdError, kclient.ApiError, kclient.ConnectError) as e:
        raise PhaseError(phase, "error creating local etcd static pod manifest file: %s" % getattr(e, "message", e))
    # kubeadm's addRemoveBackoff (8 steps from 500 ms, factor 1.5): etcd refuses a new member while a member added
    # just before has not been connected for its health interval ("etcdserver: unhealthy cluster")
    delay = 0.5
    for step in range(8):
        try:
            added = etcd.add_member([peer], learner=True)
            break
        except etcdclient.EtcdError as e:
            if step == 7:
                raise PhaseError(phase, "error creating local etcd static pod manifest file: %s" % e)
            time.sleep(delay)
            delay *= 1.5
    new_id = added["member"]["ID"]
    initial = ["%s=%s" % (node_name if m["ID"] == new_id else m.get("name", ""), m["peerURLs"][0])
               for m in added.get("members") or []]
    out("[etcd] Announced new etcd member joining to the existing etcd cluster")
    out('[etcd] Creating static Pod manifest for "etcd"')
    kubeadm.write_etcd_manifest(node_name, advertise, clusc.get("imageRepository") or "registry.k8s.io",
                                ",".join(initial))
    deadline = time.monotonic() + 120   # until the new member, started by the kubelet, has caught up
    while True:
        try:
            etcd.promote_member(new_id)
            break
        except etcdclient.EtcdError as e:
            if time.monotonic() > deadline:
                raise PhaseError(phase, "error creating local etcd static pod manifest file: %s" % e)
            time.sleep(1)
    etcd.endpoints.append("https://%s:2379" % advertise)
    out("[etcd] Waiting for the new etcd member to join the cluster. This can take up to %s"
        % util.format_duration(ETCD_HEALTHY_RETRIES * ETCD_HEALTHY_INTERVAL))
    for attempt in range(ETCD_HEALTHY_RETRIES):
        try:
            for endpoint in etcd.endpoints:
                etcd.status(endpoint)
            return
        except etcdclient.EtcdError:
            if attempt < ETCD_HEALTHY_RETRIES - 1:
                time.sleep(ETCD_HEALTHY_INTERVAL)
    raise PhaseError(phase, "error creating local etcd static pod manifest file: timeout waiting for etcd cluster "
                            "to be available")


def wait_local_api_server(pki_dir, advertise, bind_port, timeout):
    """kubeadm's control-plane-check for the node's own kube-apiserver (its /livez)."""
    url = "https://%s:%d" % (advertise, bind_port)
    out("[control-plane-check] Waiting for healthy control plane components. This can take up to %s"
        % util.format_duration(timeout))
    out("[control-plane-check] Checking kube-apiserver at %s/livez" % url)
    local = kclient.Client(url, ca=util.read_text(os.path.join(pki_dir, "ca.crt")).encode(), timeout=5)
    start = time.monotonic()

    def live():
        try:
            local.request("GET", "/livez", timeout=3)
            return True
        except (kclient.ApiError, kclient.ConnectError, OSError):
            return False
    if not util.wait_until(live, timeout, 0.5):
        raise PhaseError("wait-control-plane", "kube-apiserver check failed at %s/livez: timed out waiting for the "
                                               "condition" % url)
    out("[control-plane-check] kube-apiserver is healthy after %.9fs" % (time.monotonic() - start))


def joined_message():
    out("")
    out("This node has joined the cluster and a new control plane instance was created:")
    out("")
    out("* Certificate signing request was sent to apiserver and approval was received.")
    out("* The Kubelet was informed of the new secure connection details.")
    out("* Control plane label and taint were applied to the new node.")
    out("* The Kubernetes control plane instances scaled up.")
    out("* A new etcd member was added to the local/stacked etcd cluster.")
    out("")
    out("To start administering your cluster from this node, you need to run the following as a regular user:")
    out("")
    out("\tmkdir -p $HOME/.kube")
    out("\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config")
    out("\tsudo chown $(id -u):$(id -g) $HOME/.kube/config")
    out("")
    out("Run 'kubectl get nodes' to see this node join the cluster.")
    out("")


# ---- etcd of the cluster ------------------------------------------------------------------------------------

def cluster_client(api, pki_dir):
    """An etcd client on every member the etcd pods announce (kubeadm's etcdutil.NewFromCluster), with the API
    server's etcd client certificate."""
    pods = api.get("/api/v1/namespaces/kube-system/pods", labelSelector="component=etcd,tier=control-plane")
    endpoints = sorted({(p["metadata"].get("annotations") or {}).get(ANNOTATION) for p in pods["items"]} - {None})
    if not endpoints:
        raise etcdclient.EtcdError("etcd cluster is not healthy: could not find any etcd endpoints")
    return etcdclient.Client(endpoints, os.path.join(pki_dir, "etcd/ca.crt"),
                             os.path.join(pki_dir, "apiserver-etcd-client.crt"),
                             os.path.join(pki_dir, "apiserver-etcd-client.key"))


def remove_etcd_member(api, pki_dir, peer):
    """reset's remove-etcd-member: this node's member (by its peer URL) out of the cluster; nothing when it is
    the last one. Raises EtcdError (or the API's errors) for reset to warn about."""
    etcd = cluster_client(api, pki_dir)
    members = etcd.members()
    if len(members) == 1 and peer.replace(":2380", ":2379") in etcd.endpoints:
        return None   # the only member left
    for m in members:
        if peer in (m.get("peerURLs") or []):
            for step in range(ETCD_BACKOFF_STEPS):   # etcd refuses while its members are not all connected for 5 s
                try:
                    etcd.remove_member(m["ID"])
                    return m
                except etcdclient.EtcdError:
                    if step == ETCD_BACKOFF_STEPS - 1:
                        raise
                    time.sleep(0.05 * 2 ** step)
    return None


def fetch_cluster_configuration(api):
    cm = api.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
    return util.yaml_load_all((cm.get("data") or {}).get("ClusterConfiguration", ""))[0]
