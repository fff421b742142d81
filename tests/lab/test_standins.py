"""The stand-in Kubernetes packages on real lab hosts: installed with apt from the lab's pkgs.k8s.io-shaped
repository next to Debian's containerd, driven the way a person following the kubeadm docs would.

Hosts 1-3 are used and wiped at the end. Swap is shown to a host by bind-mounting a /proc/swaps with one
swap device over the host's own /proc/swaps (only that host's mount namespace sees it): real swap is
kernel-wide here and would leak into every other host on the machine.
"""
import base64
import json

import pytest
from kubeadm_cluster import (
    ADMIN,
    ETCD_IMAGE,
    ETCD_VERSION,
    ETCDCTL,
    join_command,
    kubeadm_cluster,
    nodes,
    ok,
    ready,
    run,
    wait_for,
)

from kub_lab import releases, repo

pytestmark = pytest.mark.lab

MINOR = "1.31"


@pytest.fixture(scope="module")
def cluster(lab):
    with kubeadm_cluster(lab, (1, 2, 3), MINOR):
        yield lab


def test_packages_report_upstream_versions(cluster):
    lab = cluster
    older, newest = repo.kubernetes_versions(MINOR)
    real = repo.ensure_kubectl(MINOR)   # the upstream kubectl this minor's packages follow
    assert real["gitVersion"] == "v" + newest
    assert ok(lab, 2, "kubeadm version -o short").strip() == "v" + newest
    assert json.loads(ok(lab, 2, "kubeadm version -o json"))["clientVersion"]["gitCommit"] == real["gitCommit"]
    assert ok(lab, 2, "kubelet --version").strip() == "Kubernetes v" + newest
    client = json.loads(ok(lab, 2, "kubectl version --client -o json"))["clientVersion"]
    assert (client["gitVersion"], client["gitCommit"]) == (real["gitVersion"], real["gitCommit"])
    assert ok(lab, 2, "head -c 4 /usr/bin/kubectl | od -An -c").split() == ["177", "E", "L", "F"]
    madison = ok(lab, 2, "apt-cache madison kubeadm")
    assert older + "-1.1" in madison and newest + "-1.1" in madison
    assert ok(lab, 2, "dpkg-query -W -f '${Version}' kubelet kubectl") == (newest + "-1.1") * 2


def test_three_nodes_become_ready(cluster):
    lab = cluster
    names = {"kubh1", "kubh2", "kubh3"}
    got = wait_for(lambda: {n for n, o in nodes(lab).items() if ready(o) == "True"} >= names and nodes(lab), 60)
    assert got and set(got) == names
    cp = got["kubh1"]
    assert "node-role.kubernetes.io/control-plane" in cp["metadata"]["labels"]
    assert "node-role.kubernetes.io/control-plane" not in got["kubh2"]["metadata"]["labels"]
    assert cp["status"]["nodeInfo"]["kubeletVersion"] == "v" + repo.kubernetes_versions(MINOR)[-1]
    assert {"type": "InternalIP", "address": lab.host_ip(2)} in got["kubh2"]["status"]["addresses"]
    table = ok(lab, 1, ADMIN + "kubectl get nodes")
    assert table.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert "10-flannel.conflist" in ok(lab, 3, "ls /etc/cni/net.d")


def test_join_command_pins_the_ca_public_key(cluster):
    lab = cluster
    cmd = join_command(lab)
    words = cmd.split()
    assert words[:3] == ["kubeadm", "join", "%s:6443" % lab.host_ip(1)]
    assert words[3] == "--token" and words[5] == "--discovery-token-ca-cert-hash"
    digest = ok(lab, 1, "openssl x509 -pubkey -in /etc/kubernetes/pki/ca.crt | openssl rsa -pubin -outform der "
                        "2>/dev/null | openssl dgst -sha256 -hex | sed 's/^.* //'").strip()
    assert words[6] == "sha256:" + digest
    assert words[4] in ok(lab, 1, "kubeadm token list")


def test_etcd_is_the_real_etcd_with_kubeadms_flags_and_certificates(cluster):
    lab = cluster
    released = releases.versions(releases.ensure_releases())["etcd"]
    assert ETCD_VERSION == released + "-0"   # the tag kubeadm writes is the etcd the lab serves
    manifest = ok(lab, 1, "cat /etc/kubernetes/manifests/etcd.yaml")
    assert "image: registry.k8s.io/etcd:%s" % ETCD_VERSION in manifest
    # the etcd static pod runs the real binary pulled as its image, with exactly the manifest's flags
    cmdline = ok(lab, 1, "cat /proc/$(pgrep -x etcd)/cmdline | tr '\\0' '\\n'").split()
    flags = [line.strip()[2:] for line in manifest.splitlines() if line.strip().startswith("- --")]
    assert cmdline[0] == ETCD_IMAGE + "/etcd" and cmdline[1:] == flags
    assert ("Version: %s" % released) in ok(lab, 1, ETCD_IMAGE + "/etcd --version")
    # TLS with the cluster's etcd CA, client certificates required (kubeadm's healthcheck client certificate)
    health = ok(lab, 1, ETCDCTL + "endpoint health -w json")
    assert json.loads(health)[0]["health"] is True
    members = json.loads(ok(lab, 1, ETCDCTL + "member list -w json"))["members"]
    assert [(m["name"], m["peerURLs"]) for m in members] == [("kubh1", ["https://%s:2380" % lab.host_ip(1)])]
    anonymous = run(lab, 1, ETCDCTL.split(" --cert")[0] + " endpoint health")
    assert anonymous.returncode != 0 and "unhealthy" in anonymous.stderr
    assert ok(lab, 1, "curl -s http://127.0.0.1:2381/livez").strip() == "ok"


def test_the_api_servers_objects_are_in_etcd(cluster):
    lab = cluster
    keys = ok(lab, 1, ETCDCTL + "get /registry --prefix --keys-only").split()
    for key in ("/registry/minions/kubh1", "/registry/namespaces/kube-system",
                "/registry/configmaps/kube-system/kubeadm-config",
                "/registry/daemonsets/kube-system/kube-proxy", "/registry/services/specs/kube-system/kube-dns"):
        assert key in keys, keys
    # an object's resourceVersion is its key's mod_revision; a write through kubectl shows in etcd at once
    ok(lab, 1, ADMIN + "kubectl create configmap in-etcd --from-literal=colour=blue")
    rv = ok(lab, 1, ADMIN + "kubectl get configmap in-etcd -o jsonpath='{.metadata.resourceVersion}'")
    stored = json.loads(ok(lab, 1, ETCDCTL + "get /registry/configmaps/default/in-etcd -w json"))["kvs"][0]
    assert str(stored["mod_revision"]) == rv
    assert json.loads(base64.b64decode(stored["value"]))["data"] == {"colour": "blue"}
    # a write that names an older resourceVersion lost its race: 409 Conflict, as from the real server
    ok(lab, 1, ADMIN + "kubectl label configmap in-etcd moved=yes")
    stale = run(lab, 1, "export " + ADMIN + "; kubectl get configmap in-etcd -o json | "
                "sed 's/\"resourceVersion\": \"[0-9]*\"/\"resourceVersion\": \"%s\"/' | kubectl replace -f -" % rv)
    assert stale.returncode == 1
    assert ('Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps '
            '"in-etcd": the object has been modified; please apply your changes to the latest version and try '
            'again') in stale.stderr
    ok(lab, 1, ADMIN + "kubectl delete configmap in-etcd")
    assert ok(lab, 1, ETCDCTL + "get /registry/configmaps/default/in-etcd --keys-only").strip() == ""


def test_missing_node_is_not_found(cluster):
    p = run(cluster, 1, ADMIN + "kubectl get node nosuchnode")
    assert p.returncode == 1
    assert 'Error from server (NotFound): nodes "nosuchnode" not found' in p.stderr


def test_second_init_fails_preflight_and_changes_nothing(cluster):
    lab = cluster
    before = ok(lab, 1, "sha256sum /etc/kubernetes/admin.conf /etc/kubernetes/pki/ca.crt")
    p = run(lab, 1, "kubeadm init")
    assert p.returncode == 1
    assert "error execution phase preflight: [preflight] Some fatal errors occurred:" in p.stderr
    for line in ("[ERROR Port-6443]: Port 6443 is in use", "[ERROR Port-10250]: Port 10250 is in use",
                 "[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty",
                 "[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: "
                 "/etc/kubernetes/manifests/kube-apiserver.yaml already exists"):
        assert line in p.stderr
    assert ok(lab, 1, "sha256sum /etc/kubernetes/admin.conf /etc/kubernetes/pki/ca.crt") == before
    p = run(lab, 1, "runuser -u kub -- kubeadm init")
    assert p.returncode == 1 and "[ERROR IsPrivilegedUser]: user is not running as root" in p.stderr


def test_cut_host_goes_not_ready_and_back(cluster):
    lab = cluster
    lab.cut(2)
    try:
        assert wait_for(lambda: ready(nodes(lab)["kubh2"]) == "Unknown", 45), "kubh2 never went NotReady"
        assert "NotReady" in ok(lab, 1, ADMIN + "kubectl get node kubh2")
    finally:
        lab.heal(2)
    assert wait_for(lambda: ready(nodes(lab)["kubh2"]) == "True", 30), "kubh2 never came back"


def test_reset_worker_then_failed_joins_leave_no_kubelet_conf(cluster):
    lab = cluster
    out = ok(lab, 3, "kubeadm reset -f")
    assert "The reset process does not clean CNI configuration" in out
    ok(lab, 1, ADMIN + "kubectl delete node kubh3")
    assert run(lab, 3, "test -e /etc/kubernetes/kubelet.conf").returncode == 1
    good = join_command(lab).split()
    token, ca_hash = good[4], good[6]
    endpoint = "%s:6443" % lab.host_ip(1)

    def failed_join(cmd, expected, env=""):
        p = run(lab, 3, env + cmd, timeout=120)
        assert p.returncode == 1, p.stdout + p.stderr
        assert expected in p.stderr, p.stderr
        assert run(lab, 3, "test -e /etc/kubernetes/kubelet.conf").returncode == 1
        ok(lab, 3, "kubeadm reset -f")

    wrong_hash = "sha256:" + "0" * 64
    failed_join("kubeadm join %s --token %s --discovery-token-ca-cert-hash %s" % (endpoint, token, wrong_hash),
                'error execution phase preflight: couldn\'t validate the identity of the API Server: cluster CA '
                'found in cluster-info ConfigMap is invalid: none of the public keys "%s" are pinned' % ca_hash)
    failed_join("kubeadm join %s --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash %s"
                % (endpoint, ca_hash),
                'could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"',
                env="KUBEADM_DISCOVERY_TIMEOUT=4s ")
    failed_join("kubeadm join %s:6443 --token %s --discovery-token-ca-cert-hash %s" % (lab.host_ip(2), token, ca_hash),
                "failed to request the cluster-info ConfigMap: Get \"https://%s:6443/api/v1/namespaces/kube-public/"
                "configmaps/cluster-info?timeout=10s\": dial tcp %s:6443: connect: connection refused"
                % (lab.host_ip(2), lab.host_ip(2)), env="KUBEADM_DISCOVERY_TIMEOUT=3s ")

    # a cluster made without --control-plane-endpoint takes no more control planes, as kubeadm says
    failed_join(" ".join(good) + " --control-plane --certificate-key " + "0" * 64,
                "error execution phase preflight: \nOne or more conditions for hosting a new control plane instance "
                "is not satisfied.\n\nunable to add a new control plane instance to a cluster that doesn't have a "
                "stable controlPlaneEndpoint address\n\nPlease ensure that:\n* The cluster has a stable "
                "controlPlaneEndpoint address.\n")

    ok(lab, 3, "systemctl stop containerd")
    try:
        failed_join(" ".join(good), "[ERROR CRI]: container runtime is not running:")
    finally:
        ok(lab, 3, "systemctl start containerd")

    ok(lab, 3, "sysctl -q -w net.ipv4.ip_forward=0")
    try:
        failed_join(" ".join(good), "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward "
                                    "contents are not set to 1")
    finally:
        ok(lab, 3, "sysctl -q -w net.ipv4.ip_forward=1")

    # swap: kubeadm only warns (since 1.28); the kubelet refuses to start, so the join times out
    ok(lab, 3, "printf 'Filename\\tType\\tSize\\tUsed\\tPriority\\n/dev/loop7\\tpartition\\t1048572\\t0\\t-2\\n' "
               "> /run/fake-swaps && mount --bind /run/fake-swaps /proc/swaps")
    try:
        p = run(lab, 3, "KUBEADM_KUBELET_HEALTH_TIMEOUT=6s " + " ".join(good))
        assert p.returncode == 1
        assert "[WARNING Swap]: swap is supported for cgroup v2 only" in p.stderr
        assert "error execution phase kubelet-start:" in p.stderr
        assert run(lab, 3, "test -e /etc/kubernetes/kubelet.conf").returncode == 1
        assert "running with swap on is not supported" in ok(lab, 3, "journalctl -u kubelet --no-pager -n 20")
    finally:
        ok(lab, 3, "umount /proc/swaps")
    ok(lab, 3, "kubeadm reset -f")

    # and with everything in order the same host joins again
    ok(lab, 3, " ".join(good), timeout=120)
    assert wait_for(lambda: "kubh3" in nodes(lab) and ready(nodes(lab)["kubh3"]) == "True", 60)


def test_drain_and_delete_node(cluster):
    lab = cluster
    out = ok(lab, 1, ADMIN + "kubectl drain kubh3 --ignore-daemonsets --delete-emptydir-data --force --timeout=60s")
    assert "node/kubh3 drained" in out
    assert nodes(lab)["kubh3"]["spec"]["unschedulable"] is True
    assert 'node "kubh3" deleted' in ok(lab, 1, ADMIN + "kubectl delete node kubh3")
    assert ok(lab, 1, ADMIN + "kubectl delete node kubh3 --ignore-not-found") == ""


def test_reset_control_plane_cleans_up(cluster):
    lab = cluster
    ok(lab, 1, "kubeadm reset -f")
    assert ok(lab, 1, "ls /etc/kubernetes/*.conf 2>/dev/null || true").strip() == ""
    assert ok(lab, 1, "ls /etc/kubernetes/manifests /var/lib/etcd /var/lib/kubelet").split() == \
        ["/etc/kubernetes/manifests:", "/var/lib/etcd:", "/var/lib/kubelet:"]
    assert ok(lab, 1, "ss -Htln 'sport = :6443'").strip() == ""
    assert run(lab, 1, "systemctl is-active kubelet").stdout.strip() == "inactive"
    assert run(lab, 1, "pgrep -x kube-apiserver").returncode == 1
    again = run(lab, 1, "kubeadm reset -f")
    assert again.returncode == 0, again.stderr
