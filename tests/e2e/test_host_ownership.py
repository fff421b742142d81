"""What is not kub's on a host stays as it was: a host's own containerd config (its registry config_path) through
install, re-run and heal, and back in place at uninstall; a hand-made CNI config and a podman-style CNI- chain
through uninstall; kernel settings files of the host's own; a changed containerd.service refused at create."""
import functools
import hashlib
import http.server
import json
import threading
import time

import pytest
from e2e_support import SPARE, assert_refused, cluster_inputs

pytestmark = pytest.mark.lab
MASTER, MINION = 1, 2
HOSTS = (MASTER, MINION)

# a host's own containerd 2 config: a registry mirror's hosts directory
HOST_CONTAINERD_CONFIG = """version = 3

[plugins."io.containerd.cri.v1.images".registry]
  config_path = "/etc/containerd/certs.d"
"""
# podman's bridge network, and the NAT chain podman's CNI plugins make for one of its containers
PODMAN_CNI = '{"cniVersion": "0.4.0", "name": "podman", "plugins": [{"type": "bridge", "bridge": "cni-podman0"}]}\n'
MINE_CNI = '{"cniVersion": "1.0.0", "name": "mine", "plugins": [{"type": "loopback"}]}\n'
PODMAN_CHAIN = "CNI-8a1f3b7c2d9e4f6a0b5c1d2e"
POD_CHAIN = "CNI-0c9d8e7f6a5b4c3d2e1f0a9b"   # the same, by the cluster's CNI (flannel's network cbr0) for a pod
HOST_SYSCTL = "vm.max_map_count = 262144\n"
# the folders kub writes in, listed before the install and after the uninstall
LISTED = "/etc/containerd /etc/sysctl.d /etc/modules-load.d /etc/cni/net.d /usr/local/bin /usr/local/sbin"


def chain_commands(chain, network, source):
    comment = f'name: "{network}" id: "{hashlib.sha256(chain.encode()).hexdigest()}"'
    return (f"iptables -t nat -N {chain} && "
            f"iptables -t nat -A {chain} -d {source}/24 -m comment --comment '{comment}' -j ACCEPT && "
            f"iptables -t nat -A POSTROUTING -s {source}/32 -m comment --comment '{comment}' -j {chain}")


def sha256(lab, i, path):
    return lab.exec(i, f"sha256sum {path}").stdout.split()[0]


def log_lines(out, i, lab):
    return [line.split("] ", 2)[-1] for line in out.splitlines() if f"[{lab.host_ip(i)}] " in line]


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    """Master and minion, each with the host's own files above, installed with containerd 2 from its release and
    purge_packages on."""
    from kub_lab.cfy import LocalCfy
    for i in HOSTS:
        lab.exec(i, f"mkdir -p /etc/containerd /etc/cni/net.d && printf '%s' '{HOST_CONTAINERD_CONFIG}' > "
                    f"/etc/containerd/config.toml && printf '%s' '{PODMAN_CNI}' > "
                    f"/etc/cni/net.d/87-podman-bridge.conflist && printf '%s' '{HOST_SYSCTL}' > /etc/sysctl.d/k8s.conf")
        # podman's dependencies bring iptables
        lab.exec(i, "apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y iptables", timeout=600)
        lab.exec(i, chain_commands(PODMAN_CHAIN, "podman", "10.88.0.5"))
    before = {i: {path: sha256(lab, i, path) for path in ("/etc/containerd/config.toml", "/etc/sysctl.d/k8s.conf",
                                                          "/etc/cni/net.d/87-podman-bridge.conflist")}
              for i in HOSTS}
    listed = {i: lab.exec(i, f"ls -A {LISTED}").stdout for i in HOSTS}
    cfy = LocalCfy(tmp_path_factory.mktemp("ownership"), blueprint_id="ownership")
    cfy.stage()
    cfy.inputs = cluster_inputs(lab, master=MASTER, minions=(MINION,), purge_packages=True,
                                local_kubeconfig_path=str(cfy.workdir / "admin.conf"))
    cfy.init(cfy.inputs)
    try:
        cfy.installed = cfy.install().stdout
        cfy.before, cfy.listed = before, listed
        yield cfy
    finally:   # also after a failed install: the next module's cluster gets clean hosts
        for i in HOSTS:
            lab.wipe(i)


def test_install_keeps_the_hosts_containerd_config_and_says_so(lab, cluster):
    for i in HOSTS:
        # once its node was Ready, kub recorded the CNI config the cluster's CNI wrote there
        assert ("CNI config files: recorded /etc/cni/net.d/10-flannel.conflist as the cluster's CNI config"
                in log_lines(cluster.installed, i, lab)), i
        config = lab.exec(i, "cat /etc/containerd/config.toml").stdout
        assert "config_path = '/etc/containerd/certs.d'" in config, (i, config)
        assert "SystemdCgroup = true" in config
        kept = sha256(lab, i, "/etc/containerd/config.toml.kub-orig")
        assert kept == cluster.before[i]["/etc/containerd/config.toml"]
        lines = log_lines(cluster.installed, i, lab)
        # (after the registries' hosts.toml files of the lab's registry_mirrors)
        assert any(line.startswith("containerd: wrote /etc/containerd/certs.d/") and
                   "; kept the host's own /etc/containerd/config.toml as /etc/containerd/config.toml.kub-orig (put "
                   "back at uninstall); wrote /etc/containerd/config.toml: the settings of /etc/containerd/config.toml "
                   "with SystemdCgroup = true and sandbox registry.k8s.io/pause:" in line for line in lines), lines
        # containerd runs with it: the registry's hosts directory and the systemd cgroup driver
        dumped = lab.exec(i, "containerd config dump").stdout
        assert "config_path = '/etc/containerd/certs.d'" in dumped and "SystemdCgroup = true" in dumped
        # the kernel settings: kub's, the host's own kept beside
        assert "net.ipv4.ip_forward = 1" in lab.exec(i, "cat /etc/sysctl.d/k8s.conf").stdout
        assert lab.exec(i, "cat /etc/sysctl.d/k8s.conf.kub-orig").stdout == HOST_SYSCTL


def test_a_rerun_and_a_heal_leave_the_config_as_it_is(lab, cluster):
    written = {i: sha256(lab, i, "/etc/containerd/config.toml") for i in HOSTS}
    cluster.inputs["cluster_id"] = cluster.outputs()["cluster_id"]
    cluster.init(cluster.inputs)   # fresh cfy state, the cluster's id given back: every step runs again
    out = cluster.install().stdout
    for i in HOSTS:
        assert "containerd: no change" in log_lines(out, i, lab)
    # the master's containerd stops: its node goes NotReady, heal starts containerd with the same config
    lab.exec(MASTER, "systemctl stop containerd")
    deadline = time.monotonic() + 120
    while _ready(lab).get(f"kubh{MASTER}") == "True":
        assert time.monotonic() < deadline
        time.sleep(2)
    master = [n["id"] for n in cluster.node_instances() if n["node_id"] == "master"][0]
    out = cluster.execute("heal", {"node_instance_id": master}).stdout
    assert "containerd: started containerd" in log_lines(out, MASTER, lab), out[-3000:]
    assert {i: sha256(lab, i, "/etc/containerd/config.toml") for i in HOSTS} == written
    assert "config_path = '/etc/containerd/certs.d'" in lab.exec(MASTER, "containerd config dump").stdout


def _ready(lab):
    listing = json.loads(lab.exec(MASTER, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json").stdout)
    return {n["metadata"]["name"]: [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
            for n in listing["items"]}


def test_uninstall_puts_back_what_is_not_kubs_and_removes_only_the_clusters(lab, cluster):
    flannel = "/etc/cni/net.d/10-flannel.conflist"
    for i in HOSTS:
        assert lab.exec(i, f"test -f {flannel}", check=False).returncode == 0, i
        # a CNI config the host's user adds while the cluster runs
        lab.exec(i, f"printf '%s' '{MINE_CNI}' > /etc/cni/net.d/99-mine.conflist")
        # what the cluster's CNI plugins leave for a pod, beside podman's
        lab.exec(i, chain_commands(POD_CHAIN, "cbr0", "10.244.0.5"))
    # the SSH user (root here) replaces the kubeconfig kub gave them with one of their own: it stays
    lab.exec(MASTER, "printf 'their own\\n' > /root/.kube/config")
    firewall_before = {i: _without(lab.exec(i, "iptables-save -t nat").stdout, POD_CHAIN) for i in HOSTS}
    out = cluster.uninstall().stdout
    for i in HOSTS:
        lines = log_lines(out, i, lab)
        reset = [line for line in lines if line.startswith("reset: ")]
        assert reset and "put back the host's own /etc/containerd/config.toml" in reset[0], lines
        assert "put back the host's own /etc/sysctl.d/k8s.conf" in reset[0]
        assert f"removed {flannel}" in reset[0]
        assert ("left /etc/cni/net.d/87-podman-bridge.conflist (there before kub's first change), "
                "/etc/cni/net.d/99-mine.conflist (not recorded as the cluster's): not the cluster's CNI "
                "config") in lines
        assert lab.exec(i, "cat /etc/cni/net.d/99-mine.conflist && rm /etc/cni/net.d/99-mine.conflist").stdout == \
            MINE_CNI   # (then gone again, for the listing below)
        if i == MASTER:
            assert "left what changed since kub wrote it: /root/.kube/config" in lines, lines
            assert lab.exec(i, "cat /root/.kube/config").stdout == "their own\n"
        # the host's own files, exactly as they were; kub's copies beside them gone
        assert {path: sha256(lab, i, path) for path in cluster.before[i]} == cluster.before[i]
        assert lab.exec(i, f"ls -A {LISTED}").stdout == cluster.listed[i], i
        # podman's chain and its rule stay; the pod's chain of the cluster's network is gone, and nothing else
        nat = lab.exec(i, "iptables-save -t nat").stdout
        assert PODMAN_CHAIN in nat and POD_CHAIN not in nat and "KUBE-" not in nat
        assert _comparable(nat) == _comparable(firewall_before[i]), i
        # containerd's release files went with the purge
        assert lab.exec(i, "ls /usr/local/bin/containerd /usr/local/sbin/runc "
                           "/usr/local/lib/systemd/system/containerd.service 2>&1; true").stdout.count("No such") == 3


def _without(rules, chain):
    return "\n".join(line for line in rules.splitlines() if chain not in line)


def _comparable(rules):
    # iptables-save's comments and counters change from one save to the next
    return [line for line in rules.splitlines() if not line.startswith("#") and "KUBE-" not in line
            and "FLANNEL" not in line and not line.startswith(":")] + sorted(
        line.split()[0] for line in rules.splitlines() if line.startswith(":") and "KUBE-" not in line
        and "FLANNEL" not in line)


class _Mirror(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_):
        pass


def test_a_mirror_serving_a_changed_containerd_unit_is_refused_before_any_host_changes(lab, new_cfy, tmp_path):
    """The mirror serves the release's tarball and runc unchanged, and a unit with one more ExecStartPre."""
    upstream = lab.exec(SPARE[0], f"curl -fsS {lab.inputs()['containerd_unit_url'].format(version='2.1.9')}").stdout
    tampered = upstream.replace("ExecStartPre=", "ExecStartPre=/bin/sh -c 'touch /tmp/owned'\nExecStartPre=", 1)
    assert tampered != upstream
    (tmp_path / "v2.1.9").mkdir()
    (tmp_path / "v2.1.9" / "containerd.service").write_text(tampered)
    # on the lab's bridge: kub refuses loopback addresses
    server = http.server.ThreadingHTTPServer((lab.bridge_ip, 0),
                                             functools.partial(_Mirror, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{lab.bridge_ip}:{server.server_port}/v2.1.9/containerd.service"
        found = hashlib.sha256(tampered.encode()).hexdigest()
        assert_refused(lab, new_cfy, cluster_inputs(lab, master=SPARE[0], minions=(SPARE[1],),
                                                    containerd_unit_url=url.replace("2.1.9", "{version}")),
                       f"{url} has sha256 {found}, not "
                       f"1941362cbaa89dd591b99c32b050d82c583d3cd2e5fa63085d7017457ec5fca8, that of containerd "
                       f"2.1.9's upstream unit: point containerd_unit_url at upstream's containerd.service of "
                       f"v2.1.9 (or a mirror that serves it unchanged)")
    finally:
        server.shutdown()
    for i in SPARE:
        assert lab.exec(i, "ls /var/lib/kub /tmp/owned 2>&1; true").stdout.count("No such") == 2
