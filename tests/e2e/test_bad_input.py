"""Bad input, through the real cfy CLI: one clear line naming the host and the fix; hosts left as they were."""
import subprocess

import pytest
from e2e_support import SPARE, cluster_inputs, host_state

pytestmark = pytest.mark.lab
A, B = SPARE


@pytest.fixture(scope="module", autouse=True)
def spare_hosts_fresh(lab):
    yield
    for i in SPARE:
        lab.wipe(i)


def other_key(tmp_path):
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return str(key)


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
     "sudo for 'kubpw' needs a password: set ssh.sudo_password"),
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
    ("version not in repository", lambda lab, t: {"kubernetes_version": "1.99"},
     "Kubernetes 1.99 is not in the package repository"),
    ("CNI manifest missing", lambda lab, t: {"cni_manifest": str(t / "no-such-cni.yaml")},
     "no-such-cni.yaml not found (neither a file nor a blueprint resource)"),
]


def assert_refused(lab, new_cfy, inputs, expected):
    """cfy install with these inputs fails with the expected message and leaves the spare hosts as they were."""
    before = {i: host_state(lab, i) for i in SPARE}
    cfy = new_cfy()
    cfy.init(inputs)
    result = cfy.install(check=False)
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout[-3000:]
    assert {i: host_state(lab, i) for i in SPARE} == before


@pytest.mark.parametrize("make_inputs,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_early_and_changes_nothing(lab, new_cfy, tmp_path, make_inputs, expected):
    inputs = cluster_inputs(lab, master=A, minions=(B,))
    inputs.update(make_inputs(lab, tmp_path))
    assert_refused(lab, new_cfy, inputs, expected)


def test_unsupported_os_is_refused_before_any_change(lab, new_cfy):
    lab.exec(B, "sed -i 's/^ID=.*/ID=centos/; s/^VERSION_ID=.*/VERSION_ID=\"9\"/' /etc/os-release")
    assert_refused(lab, new_cfy, cluster_inputs(lab, master=B, minions=()),
                   f"{lab.host_ip(B)}: centos 9 is not supported: use a host with Debian 12")


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
