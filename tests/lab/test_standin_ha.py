"""A highly available control plane of the stand-ins on lab hosts, made as the kubeadm docs make one (stacked
etcd): `kubeadm init --control-plane-endpoint VIP:6443 --upload-certs` on host 1 (the virtual IP on it, as a
keepalived would hold it), then hosts 2 and 3 join with `--control-plane --certificate-key` (flags, and a
JoinConfiguration). Each host runs a real etcd member and an API server on it; the controller managers take turns
by a Lease. Hosts 1-3 are wiped at the end.
"""
import base64
import datetime
import json
import re
import time

import pytest
from kubeadm_cluster import ETCD_IMAGE, SETUP, containerd_debian, ok, run, wait_for

pytestmark = pytest.mark.lab

MINOR = "1.31"
HOSTS = (1, 2, 3)
ADMIN = "export KUBECONFIG=/etc/kubernetes/admin.conf; "
ETCDCTL_CLUSTER = (ETCD_IMAGE + "/etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
                   "--cert /etc/kubernetes/pki/apiserver-etcd-client.crt "
                   "--key /etc/kubernetes/pki/apiserver-etcd-client.key ")
JOIN_CONFIG = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {endpoint}
    token: {token}
    caCertHashes: [{hash}]
controlPlane:
  certificateKey: {key}
  localAPIEndpoint:
    advertiseAddress: {address}
"""


def vip(lab):
    return lab.host_ip(1).rsplit(".", 1)[0] + ".100"


def kubectl(lab, i, args, server=None, check=True):
    """kubectl on host i with its admin.conf, against the API server of host `server` (default: its own)."""
    cmd = ADMIN + "kubectl --server https://%s:6443 %s" % (lab.host_ip(server or i), args)
    return ok(lab, i, cmd) if check else run(lab, i, cmd)


def members(lab, i):
    return json.loads(ok(lab, i, ETCDCTL_CLUSTER + "member list -w json"))["members"]


def healthy_endpoints(lab, i):
    p = run(lab, i, ETCDCTL_CLUSTER + "endpoint health --cluster -w json")
    return sorted(e["endpoint"] for e in json.loads(p.stdout or "[]") if e.get("health"))


def lease_holder(lab, i, server=None):
    lease = json.loads(kubectl(lab, i, "-n kube-system get lease kube-controller-manager -o json", server))
    return lease["spec"]


@pytest.fixture(scope="module")
def ha(lab):
    setup = SETUP.replace("{repo}", lab.package_repository_url.replace("{version}", MINOR)) + containerd_debian(lab)
    try:
        for i in HOSTS:
            ok(lab, i, setup, timeout=300)
        ok(lab, 1, "ip addr add %s/24 dev eth0" % vip(lab))
        init = ok(lab, 1, "kubeadm init --control-plane-endpoint %s:6443 --upload-certs "
                          "--pod-network-cidr=10.244.0.0/16" % vip(lab), timeout=300)
        yield lab, init
    finally:
        for i in HOSTS:
            lab.wipe(i)


def test_init_with_an_endpoint_uploads_the_shared_certificates_sealed(ha):
    lab, init = ha
    key = re.search(r"--control-plane --certificate-key ([0-9a-f]{64})", init).group(1)
    assert "You can now join any number of the control-plane node running the following command on each as " \
           "root:" in init
    assert "As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use" in init
    assert ok(lab, 1, "grep server: /etc/kubernetes/admin.conf").split() == ["server:", "https://%s:6443" % vip(lab)]
    assert "IP Address:%s" % vip(lab) in ok(lab, 1, "openssl x509 -noout -text -in /etc/kubernetes/pki/apiserver.crt")
    secret = json.loads(ok(lab, 1, ADMIN + "kubectl -n kube-system get secret kubeadm-certs -o json"))
    assert sorted(secret["data"]) == ["ca.crt", "ca.key", "etcd-ca.crt", "etcd-ca.key", "front-proxy-ca.crt",
                                      "front-proxy-ca.key", "sa.key", "sa.pub"]
    assert b"BEGIN" not in base64.b64decode(secret["data"]["ca.key"])   # sealed
    owner = secret["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Secret" and owner["name"].startswith("bootstrap-token-") and owner["controller"]
    token = json.loads(ok(lab, 1, ADMIN + "kubectl -n kube-system get secret %s -o json" % owner["name"]))
    assert token["metadata"]["uid"] == owner["uid"]
    expires = datetime.datetime.strptime(base64.b64decode(token["data"]["expiration"]).decode(),
                                         "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert 7000 < (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds() <= 7200   # 2 h
    assert "usage-bootstrap-authentication" not in token["data"]   # it only bounds the Secret's life
    assert key not in ok(lab, 1, ADMIN + "kubectl -n kube-system get secrets -o yaml")


def test_a_wrong_certificate_key_fails_as_the_real_one(ha):
    lab, _ = ha
    join = ok(lab, 1, "kubeadm token create --print-join-command").strip()
    p = run(lab, 2, join + " --control-plane --certificate-key " + "ab" * 32, timeout=120)
    assert p.returncode == 1
    assert ("error execution phase control-plane-prepare/download-certs: error downloading certs: error decoding "
            "secret data with provided key: cipher: message authentication failed") in p.stderr
    assert ok(lab, 2, "find /etc/kubernetes -type f").strip() == ""   # nothing written


def test_two_more_control_planes_join_and_share_one_etcd(ha):
    lab, init = ha
    key = re.search(r"--certificate-key ([0-9a-f]{64})", init).group(1)
    join = ok(lab, 1, "kubeadm token create --print-join-command --certificate-key " + key).strip()
    assert join.endswith("--control-plane --certificate-key " + key)
    out = ok(lab, 2, join, timeout=300)
    assert "[etcd] Announced new etcd member joining to the existing etcd cluster" in out
    assert "[etcd] Waiting for the new etcd member to join the cluster. This can take up to 40s" in out
    assert "This node has joined the cluster and a new control plane instance was created:" in out
    # host 3 by a JoinConfiguration, with a key of a new upload
    upload = ok(lab, 1, "kubeadm init phase upload-certs --upload-certs")
    new_key = upload.strip().splitlines()[-1]
    assert re.fullmatch("[0-9a-f]{64}", new_key) and new_key != key
    words = join.split()
    config = JOIN_CONFIG.format(endpoint=words[2], token=words[4], hash=words[6], key=new_key,
                                address=lab.host_ip(3))
    lab.exec(3, ["sh", "-c", "cat > /root/join.yaml"], input=config)
    ok(lab, 3, "kubeadm join --config /root/join.yaml", timeout=300)

    found = members(lab, 1)
    assert sorted((m["name"], m["peerURLs"][0], m.get("isLearner", False)) for m in found) == [
        ("kubh%d" % i, "https://%s:2380" % lab.host_ip(i), False) for i in HOSTS]
    assert wait_for(lambda: len(healthy_endpoints(lab, 1)) == 3, 30)
    for i in HOSTS:
        cmdline = ok(lab, i, "cat /proc/$(pgrep -x etcd)/cmdline | tr '\\0' ' '")
        assert ("--initial-cluster-state=existing" in cmdline) == (i != 1)
        node = json.loads(kubectl(lab, 1, "get node kubh%d -o json" % i))
        assert "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"]
        assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in node["spec"]["taints"]
    # every API server serves the one store: a write through one is read (and watched) through the others
    names = lambda i: sorted(kubectl(lab, 1, "get nodes -o name", server=i).split())  # noqa: E731
    assert names(1) == names(2) == names(3) == ["node/kubh1", "node/kubh2", "node/kubh3"]
    ok(lab, 3, "(%s timeout 15 kubectl --server https://%s:6443 get configmaps --watch-only -o name > /tmp/watched "
               "2>&1 &) ; sleep 2" % (ADMIN, lab.host_ip(3)))
    kubectl(lab, 2, "create configmap through-two --from-literal=a=b")
    assert kubectl(lab, 1, "get configmap through-two -o jsonpath={.data.a}", server=1) == "b"
    assert wait_for(lambda: "configmap/through-two" in ok(lab, 3, "cat /tmp/watched"), 10)
    assert "/registry/configmaps/default/through-two" in ok(lab, 3, ETCDCTL_CLUSTER + "get /registry --prefix "
                                                                 "--keys-only")


def test_a_crashed_control_plane_leaves_a_quorum_and_another_controller_manager_leads(ha):
    lab, _ = ha
    holder = wait_for(lambda: lease_holder(lab, 2).get("holderIdentity"), 30)
    leader = int(re.match(r"kubh(\d)_", holder).group(1))
    transitions = lease_holder(lab, 2).get("leaseTransitions", 0)
    others = [i for i in HOSTS if i != leader]
    holder = next(i for i in HOSTS if vip(lab) in ok(lab, i, "ip -4 -o addr show dev eth0"))
    lab.crash(leader)
    if holder == leader:   # the virtual IP moves to a host that is up, as keepalived moves it
        ok(lab, others[0], "ip addr add %s/24 dev eth0" % vip(lab))
    try:
        # the two left answer and write: etcd has its quorum (once its members have elected a new leader, if the
        # crashed one led: a write meanwhile times out, as with the real etcd)
        def created(i):
            p = kubectl(lab, i, "create configmap during-crash-%d --from-literal=a=b" % i, check=False)
            return p.returncode == 0 or "AlreadyExists" in p.stderr
        for i in others:
            assert wait_for(lambda i=i: created(i), 60)
        assert kubectl(lab, others[0], "get configmap during-crash-%d -o name" % others[1]).strip()
        # the lease runs out (15 s) and a controller manager of another host takes it, and acts
        spec = wait_for(lambda: (lambda s: s if s.get("holderIdentity", "").split("_")[0] in
                                 ["kubh%d" % i for i in others] else None)(lease_holder(lab, others[0])), 60)
        assert spec and spec["leaseTransitions"] > transitions
        kubectl(lab, others[0], "create deployment after-crash --image=registry.k8s.io/pause:3.10")
        assert wait_for(lambda: kubectl(lab, others[1], "get replicasets -l app=after-crash -o name").strip(), 30)
    finally:
        lab.boot(leader)
    # booted, its etcd member catches up and is healthy again; its API server serves what was written meanwhile
    assert wait_for(lambda: len(healthy_endpoints(lab, others[0])) == 3, 90), healthy_endpoints(lab, others[0])
    assert wait_for(lambda: kubectl(lab, leader, "get configmap during-crash-%d -o name" % others[0],
                                    check=False).returncode == 0, 60)


def test_reset_of_a_control_plane_removes_its_etcd_member(ha):
    lab, _ = ha
    p = run(lab, 3, "kubeadm reset -f", timeout=180)
    assert p.returncode == 0, p.stderr
    assert "[reset] Reading configuration from the cluster..." in p.stdout
    assert "Unable to fetch" not in p.stderr and "Failed to remove etcd member" not in p.stderr, p.stderr
    assert sorted(m["name"] for m in members(lab, 1)) == ["kubh1", "kubh2"]
    assert ok(lab, 3, "ls -A /var/lib/etcd").strip() == ""
    kubectl(lab, 1, "create configmap after-reset --from-literal=a=b")   # two members: still a quorum
    assert kubectl(lab, 2, "get configmap after-reset -o name").strip() == "configmap/after-reset"


def test_reset_without_a_quorum_says_so_and_goes_on(ha):
    lab, _ = ha
    lab.crash(2)   # one member of two left: no quorum
    try:
        started = time.monotonic()
        p = run(lab, 1, "kubeadm reset -f", timeout=180)
        assert p.returncode == 0, p.stderr
        assert "[reset] Unable to fetch the kubeadm-config ConfigMap from cluster: failed to get config map: " \
               in p.stderr, p.stderr
        assert time.monotonic() - started < 120
        assert ok(lab, 1, "ls -A /var/lib/etcd /etc/kubernetes/manifests").split() == \
            ["/etc/kubernetes/manifests:", "/var/lib/etcd:"]
    finally:
        lab.boot(2)
