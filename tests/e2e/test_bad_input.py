"""Bad input, through the real cfy CLI: one clear line naming the host and the fix; hosts left as they were. What
the blueprint's input constraints catch, cfy refuses at `cfy init` with its own line (kub's own checks of the same
settings, for a manager and hand-written templates, are unit tests)."""
import subprocess
import urllib.request

import pytest
from e2e_support import SPARE, assert_refused, cluster_inputs

pytestmark = pytest.mark.lab
A, B = SPARE


@pytest.fixture(scope="module", autouse=True)
def spare_hosts_fresh(lab):
    yield
    for i in SPARE:
        lab.wipe(i)


def other_key(tmp_path, passphrase=""):
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(key)], check=True)
    return str(key)


def tampered_release(lab, tmp_path):
    """A mirror of the lab's containerd release whose tarball is not the one its .sha256sum names."""
    inputs = lab.inputs()
    url = inputs["containerd_url"].format(version=inputs["containerd_version"], arch="amd64")
    name = url.rsplit("/", 1)[-1]
    (tmp_path / name).write_bytes(b"not containerd")
    (tmp_path / (name + ".sha256sum")).write_bytes(urllib.request.urlopen(url + ".sha256sum").read())
    return {"containerd_url": f"file://{tmp_path}/containerd-{{version}}-linux-{{arch}}.tar.gz"}


def file_with(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    return str(tmp_path / name)


def known_hosts_with(tmp_path, text):
    path = tmp_path / "known_hosts_variant"
    path.write_text(text)
    return str(path)


def changed_key_for(lab, tmp_path, i):
    """A known_hosts where host i's IP carries another host's key (as after a reinstall)."""
    other = [line for line in lab.known_hosts().splitlines() if line.startswith(lab.host_ip(B) + " ")][0]
    return known_hosts_with(tmp_path, other.replace(lab.host_ip(B), lab.host_ip(i), 1) + "\n")


# (case id, inputs(lab, tmp_path), expected fragment)
CASES = [
    ("unreachable", lambda lab, t: {"master_ip": lab.host_ip(9)},
     "cannot reach SSH port 22"),
    ("wrong key", lambda lab, t: {"ssh_private_key_path": other_key(t)},
     "SSH login as 'root' was refused"),
    ("wrong user", lambda lab, t: {"ssh_user": "nobody-here"},
     "SSH login as 'nobody-here' was refused"),
    ("unknown host key", lambda lab, t: {"ssh_known_hosts_path": known_hosts_with(t, "")},
     "unknown host key SHA256:"),
    ("changed host key", lambda lab, t: {"ssh_known_hosts_path": changed_key_for(lab, t, A)},
     "host key CHANGED"),
    ("sudo needs a password", lambda lab, t: {"ssh_user": "kubpw"},
     "sudo for 'kubpw' needs a password: set ssh_sudo_password"),
    ("wrong sudo password", lambda lab, t: {"ssh_user": "kubpw", "ssh_sudo_password": "not-it"},
     "sudo rejected the password of 'kubpw'"),
    ("minion is the master", lambda lab, t: {"minion_ips": [lab.host_ip(B), lab.host_ip(A)]},
     "listed as a minion but it is already the master"),
    ("minion twice", lambda lab, t: {"minion_ips": [lab.host_ip(B), lab.host_ip(B)]},
     "listed as a minion but it is already a minion"),
    ("invalid cidr", lambda lab, t: {"pod_network_cidr": "10.244.0.0/33"},
     "pod_network_cidr '10.244.0.0/33' is not a valid CIDR"),
    ("overlapping cidrs", lambda lab, t: {"pod_network_cidr": "10.96.0.0/16", "service_cidr": "10.96.0.0/12"},
     "overlap"),
    ("a minor kub does not support (the repository has it)", lambda lab, t: {"kubernetes_version": "1.34"},
     "Value 1.34 of input kubernetes_version violates constraint valid_values(1.35, 1.36, 1.37) operator."),
    ("a minor the repository lacks",
     lambda lab, t: {"package_repository_url": lab.package_repository_url.replace("/v{version}/", "/x{version}/"),
                     "package_repository_key_url": lab.package_repository_key_url.replace("/v{version}/",
                                                                                         "/x{version}/")},
     "Kubernetes 1.36 is not in the package repository"),
    ("cgroup v1 hosts without the opt-in", lambda lab, t: {"allow_cgroup_v1": False},
     "the host runs cgroup v1 (/sys/fs/cgroup is tmpfs), which the kubelet of Kubernetes 1.36 refuses"),
    ("the OS's containerd 1.6 for 1.36", lambda lab, t: {"containerd_source": "os"},
     "debian 12 ships containerd 1.6, and Kubernetes 1.36 needs containerd 2.0 or newer"),
    ("the OS's containerd 1.6 for 1.35", lambda lab, t: {"containerd_source": "os", "kubernetes_version": "1.35"},
     "debian 12 ships containerd 1.6, and Kubernetes 1.35 needs containerd 1.7 or newer"),
    ("a containerd tarball that is not the release", lambda lab, t: tampered_release(lab, t),
     "is not the"),
    ("CNI manifest missing", lambda lab, t: {"cni_manifest": str(t / "no-such-cni.yaml")},
     "no-such-cni.yaml cannot be read (No such file or directory)"),
    ("CNI manifest not UTF-8", lambda lab, t: {"cni_manifest": file_with(t, "cni.yaml", b"kind: \xff\n")},
     "cni.yaml is not UTF-8 text"),
    ("repository URL with another field", lambda lab, t: {"package_repository_url": "http://m/{ver}/"},
     "only {version} may stand in braces"),
    ("repository URL with a lone brace", lambda lab, t: {"package_repository_url": "http://m/{/v{version}/"},
     "only {version} may stand in braces"),
    ("repository URL with a line break",
     lambda lab, t: {"package_repository_url": lab.package_repository_url + "\ndeb http://elsewhere/ /"},
     "of input package_repository_url violates constraint pattern"),
    ("key URL with a space", lambda lab, t: {"package_repository_key_url": "http://m/v{version}/Release key"},
     "of input package_repository_key_url violates constraint pattern"),
    ("version in other digits", lambda lab, t: {"kubernetes_version": "1.\u0663\u0661"},
     "of input kubernetes_version violates constraint valid_values(1.35, 1.36, 1.37)"),
    ("version unquoted", lambda lab, t: {"kubernetes_version": 1.30},
     "Value 1.3 of input kubernetes_version violates constraint valid_values(1.35, 1.36, 1.37)"),
    ("CRI socket pasted into YAML", lambda lab, t: {"cri_socket": "unix:///run/c.sock\"\nkind: x"},
     "of input cri_socket violates constraint pattern"),
    ("cluster id not one kub made", lambda lab, t: {"cluster_id": "kub/master"},
     "of input cluster_id violates constraint pattern"),
    ("SSH port out of range", lambda lab, t: {"ssh_port": 70000},
     "Value 70000 of input ssh_port violates constraint in_range(1, 65535) operator."),
    ("connect timeout zero", lambda lab, t: {"ssh_connect_timeout": 0},
     "Value 0 of input ssh_connect_timeout violates constraint greater_than(0) operator."),
    ("drain timeout zero", lambda lab, t: {"drain_timeout": 0},
     "Value 0 of input drain_timeout violates constraint greater_than(0) operator."),
    ("a minion address that is no string", lambda lab, t: {"minion_ips": [lab.host_ip(B), 7]},
     "ip 7 is not a string"),
    ("one host in two spellings", lambda lab, t: {"minion_ips": [lab.host_ip(B), " " + lab.host_ip(B)]},
     "listed as a minion but it is already a minion"),
    ("hosts inside the pod network", lambda lab, t: {"pod_network_cidr": "10.231.0.0/16"},
     "the host's address is inside pod_network_cidr 10.231.0.0/16"),
    ("a pod network of one address", lambda lab, t: {"pod_network_cidr": "10.244.0.1/32"},
     "pod_network_cidr 10.244.0.1/32 is too small"),
    ("a known_hosts line kub cannot read",
     lambda lab, t: {"ssh_known_hosts_path": known_hosts_with(t, "junk\n" + lab.known_hosts())},
     "line 1 is not a known_hosts entry"),
    ("an SSH certificate authority in known_hosts",
     lambda lab, t: {"ssh_known_hosts_path": known_hosts_with(
         t, lab.known_hosts() + "@cert-authority *.example.com " + lab.known_hosts().split(" ", 1)[1].splitlines()[0])},
     "is an @cert-authority line, which kub does not support"),
    ("a private key with a passphrase", lambda lab, t: {"ssh_private_key_path": other_key(t, passphrase="pw")},
     "is protected by a passphrase"),
    ("an empty private key", lambda lab, t: {"ssh_private_key_path": file_with(t, "empty_key", b"")},
     "empty_key is empty"),
]


@pytest.mark.parametrize("make_inputs,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_early_and_changes_nothing(lab, new_cfy, tmp_path, make_inputs, expected):
    inputs = cluster_inputs(lab, master=A, minions=(B,))
    inputs.update(make_inputs(lab, tmp_path))
    assert_refused(lab, new_cfy, inputs, expected)


def test_unsupported_os_is_refused_before_any_change(lab, new_cfy):
    lab.exec(B, "cp /etc/os-release /root/os-release && "
                "sed -i 's/^ID=.*/ID=centos/; s/^VERSION_ID=.*/VERSION_ID=\"9\"/' /etc/os-release")
    try:
        assert_refused(lab, new_cfy, cluster_inputs(lab, master=B, minions=()),
                       f"{lab.host_ip(B)}: centos 9 is not supported: use a host with Debian 12")
    finally:
        lab.exec(B, "cp /root/os-release /etc/os-release")


def test_api_port_taken_on_the_master(lab, new_cfy):
    lab.exec(A, "systemd-run --unit kub-test-6443 python3 -m http.server 6443")
    lab.exec(A, "for t in $(seq 50); do grep -q ':192B ' /proc/net/tcp && break; sleep 0.1; done")
    try:
        assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=()),
                       f"{lab.host_ip(A)}: port 6443 already in use, master needs it")
    finally:
        lab.exec(A, "systemctl stop kub-test-6443", check=False)


def test_a_cluster_from_elsewhere_is_refused_not_wiped(lab, new_cfy):
    # a kubeadm control plane kub did not make: its admin.conf and no kub owner mark
    lab.exec(A, "mkdir -p /etc/kubernetes && echo 'apiVersion: v1' > /etc/kubernetes/admin.conf")
    try:
        assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=()),
                       f"{lab.host_ip(A)}: already belongs to a Kubernetes cluster this deployment did not make")
        assert lab.exec(A, "cat /etc/kubernetes/admin.conf").stdout == "apiVersion: v1\n"
    finally:
        lab.exec(A, "rm -f /etc/kubernetes/admin.conf")


def test_a_hostname_that_is_no_node_name_is_refused(lab, new_cfy):
    lab.exec(B, "echo web_01 > /proc/sys/kernel/hostname")   # (hostname(1) refuses to set it)
    try:
        assert_refused(lab, new_cfy, cluster_inputs(lab, master=A, minions=(B,)),
                       f"{lab.host_ip(B)}: hostname 'web_01' is not a valid Kubernetes node name")
    finally:
        lab.exec(B, f"hostname kubh{B}")
