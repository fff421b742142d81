"""Shared helpers of the end-to-end tests."""
import re
import subprocess
import sys
from pathlib import Path

from kub_lab.registry import IMAGE_NAMES

MASTER, MINIONS = 1, (2, 3)        # the cluster's hosts
SPARE = (4, 5)                     # hosts for bad-input cases
# the lab registry's web server (through containerd's registry mirrors: kub_lab.registry)
WEB_IMAGE = IMAGE_NAMES["web"]
# a Deployment of two replicas and a PodDisruptionBudget that keeps one of them (the day-2 workflows' workload)
WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: %s}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
""" % WEB_IMAGE
TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")   # a kubeadm bootstrap token


def cluster_inputs(lab, master=MASTER, minions=MINIONS, **overrides):
    inputs = lab.inputs()
    inputs.update(master_ip=lab.host_ip(master), minion_ips=[lab.host_ip(i) for i in minions],
                  ssh_connect_timeout=5)
    inputs.update(overrides)
    return inputs


def host_state(lab, i):
    """What kub would change on a host: a snapshot to compare before and after."""
    script = ("for p in /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf /var/lib/kub/owner "
              "/etc/apt/sources.list.d/kubernetes.list /etc/sysctl.d/k8s.conf /etc/modules-load.d/k8s.conf "
              "/etc/containerd/config.toml; do [ -e $p ] && echo present $p; done; "
              "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' containerd kubeadm kubelet kubectl 2>/dev/null;"
              "systemctl is-active kubelet containerd 2>/dev/null; true")
    return lab.exec(i, script).stdout


# what changes on a host without anyone's doing: logs and the journal, login sessions (and the message of the day
# PAM writes at a login), the API server's store, containerd's and the kubelet's records of pods, and the pod
# network's record of the addresses it gave (the last one given stays after the pod goes)
VOLATILE = ("/proc", "/sys", "/dev", "/var/log", "/run/log", "/run/user", "/run/systemd", "/run/motd.dynamic",
            "/var/lib/etcd", "/var/lib/containerd", "/var/lib/kubelet/pods", "/var/lib/cni/networks")


def host_files(lab, i):
    """Every path on a host (but VOLATILE ones) with its type, mode and owner, each file's size, and the checksum
    of each file in /etc and /root: a snapshot in which any file kub added, changed or removed shows."""
    prune = " -o ".join(f"-path {path}" for path in VOLATILE)
    script = (f"find / \\( {prune} \\) -prune -o -type f -printf '%p f %m %u %s\\n' -o -printf '%p %y %m %u\\n' "
              f"| sort; find /etc /root -type f -exec sha256sum {{}} + | sort")
    return lab.exec(i, script).stdout


# more of a host's state than its files: packages, units, kernel settings, the firewall, the cluster's objects
KUBECTL_READ = "kubectl --kubeconfig /etc/kubernetes/admin.conf --cache-dir /dev/null"
STATE = rf"""
find /var/lib/kub /usr/local -type f -exec sha256sum {{}} + 2>/dev/null | sort
dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\n' | sort
systemctl list-units --type=service --all --no-legend --plain | grep -v '^user' | awk '{{ print $1, $3, $4 }}' | sort
systemctl list-unit-files --type=service --no-legend | awk '{{ print $1, $2 }}' | sort
sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables 2>&1
cat /proc/swaps
for save in iptables-save ip6tables-save; do $save 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'; done
[ ! -e /etc/kubernetes/admin.conf ] || {KUBECTL_READ} get nodes,namespaces,configmaps,deployments -A \
  -o custom-columns=KIND:.kind,NS:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid,OFF:.spec.unschedulable
"""


def whole_host_state(lab, i):
    """host_files and STATE: a snapshot in which any change a kub step can make shows."""
    return host_files(lab, i) + lab.exec(i, STATE, timeout=120).stdout


def files_changed(lab, hosts, before):
    """{host: lines of host_files that differ from `before` (a {host: host_files} snapshot)} for hosts that differ."""
    changed = {}
    for i in hosts:
        now, then = set(host_files(lab, i).splitlines()), set(before[i].splitlines())
        if now != then:
            changed[i] = sorted(f"- {line}" for line in then - now) + sorted(f"+ {line}" for line in now - then)
    return changed


def secrets_seen(text):
    return TOKEN.findall(text)


def assert_refused(lab, new_cfy, inputs, expected, hosts=SPARE):
    """cfy init (where the blueprint's constraints refuse them), else cfy install, with these inputs fails with the
    expected one-line message and leaves the hosts as they were. Returns the deployment (for an uninstall)."""
    before = {i: host_state(lab, i) for i in hosts}
    cfy = new_cfy()
    result = cfy.init(inputs, check=False)
    if result.returncode == 0:
        result = cfy.install(check=False)
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout[-3000:]
    assert {i: host_state(lab, i) for i in hosts} == before
    return cfy


def new_venv(path):
    """A fresh virtualenv (pip and nothing else) from the Python this one is made from."""
    subprocess.run([sys._base_executable, "-m", "venv", str(path)], check=True)
    return Path(path)


def pip_freeze(venv):
    out = subprocess.run([str(venv / "bin" / "pip"), "freeze"], check=True, text=True, capture_output=True).stdout
    return dict(line.split("==", 1) for line in out.splitlines() if "==" in line)


def kub_location(venv):
    """Where the venv's Python finds kub's operations module (-I: not in the current folder)."""
    script = "import kub_plugin.cfy.cluster_nodes as m; print(m.__file__)"
    return subprocess.run([str(venv / "bin" / "python"), "-I", "-c", script],
                          check=True, text=True, capture_output=True).stdout
