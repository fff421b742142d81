"""Pods run for real in the lab: the new-cluster example (host 1 the master, hosts 2 and 3 minions) with the lab
registry's web server. Its Service answers HTTP on every node's node port from the machine running cfy;
kub_scale to 3 gives 3 running containers, seen through containerd itself (ctr), not through the API; kub_drain
moves the pods and they answer again on another node; a pod whose image does not exist is ImagePullBackOff with
containerd's reason; uninstall leaves no container, shim, veth, CNI state or iptables rule of the cluster.

What it costs is printed (pytest -s): the install's time, and the memory of containerd, the shims and the pods'
processes on the minions."""
import json
import time
import urllib.error
import urllib.request

import pytest
from e2e_support import MASTER, MINIONS

from kub_lab.cfy import PROJECT, LocalCfy
from kub_lab.registry import IMAGE_NAMES
from kub_lab.system import wait_until

pytestmark = pytest.mark.lab
HOSTS = (MASTER, *MINIONS)
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf --cache-dir /dev/null "
MISSING = "docker.io/kublab/missing:1.0"
# the web app's containers on a host, as containerd has them: their ids, then the ids of the running tasks
WEB_CONTAINERS = ("ctr -n k8s.io containers ls -q 'labels.\"io.kubernetes.container.name\"==web,"
                  "labels.\"io.kubernetes.pod.namespace\"==hello'; echo --; "
                  "ctr -n k8s.io tasks ls | awk '$3 == \"RUNNING\" { print $1 }'")
# processes' resident memory in MiB, by command name
RSS = "ps -eo rss=,comm= | awk '{ mib[$2] += $1 / 1024 } END { for (c in mib) printf \"%s %.1f\\n\", c, mib[c] }'"


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def answers(url, timeout=30):
    """The page at url, once it answers 200 (kube-proxy writes a Service's rules a moment after its pods are
    ready); the last failure otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(url)
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.5)


def running_web(lab, i):
    """The web app's containers that containerd runs on host i."""
    out = lab.exec(i, WEB_CONTAINERS).stdout.split("--")
    return set(out[0].split()) & set(out[1].split())


def memory(lab, i):
    return {name: float(mib) for name, mib in (line.split() for line in lab.exec(i, RSS).stdout.splitlines())}


@pytest.fixture(scope="module")
def app(lab, tmp_path_factory):
    for i in HOSTS:
        lab.wipe(i)
    cfy = LocalCfy(tmp_path_factory.mktemp("pods"), blueprint_id="pods",
                   blueprint=PROJECT / "examples" / "app-on-new-cluster.yaml")
    cfy.stage()
    inputs = lab.inputs(examples=True)
    assert inputs["web_image"] == IMAGE_NAMES["web"]
    cfy.init({**inputs, "master_ip": lab.host_ip(MASTER), "minion_ips": [lab.host_ip(i) for i in MINIONS],
              "local_kubeconfig_path": str(cfy.workdir / "admin.conf")})
    started = time.monotonic()
    cfy.install()
    print(f"\ninstall of 1 master + 2 minions with the web app: {time.monotonic() - started:.1f} s")
    cfy.port = cfy.outputs()["web_node_port"]
    yield cfy
    for i in HOSTS:
        lab.wipe(i)


def test_the_web_app_answers_on_every_nodes_node_port_from_here(lab, app):
    for i in HOSTS:
        status, body = answers(f"http://{lab.host_ip(i)}:{app.port}/")
        assert status == 200 and "kub lab web 1.0" in body, (i, status, body)
    assert sum(len(running_web(lab, i)) for i in MINIONS) == 2
    assert running_web(lab, MASTER) == set()   # the master is tainted
    ips = lab.exec(MASTER, KUBECTL + "get pods -n hello -o jsonpath='{.items[*].status.podIP}'").stdout.split()
    assert len(ips) == 2 and all(ip.startswith("10.244.") for ip in ips)   # the pod network's


def test_kub_scale_to_three_runs_three_containers(lab, app):
    app.execute("kub_scale", {"name": "web", "namespace": "hello", "replicas": 3})
    assert wait_until(lambda: sum(len(running_web(lab, i)) for i in MINIONS) == 3, 60, 0.5)
    used = [memory(lab, i) for i in MINIONS]
    shims = sum(m.get("containerd-shim", 0) for m in used)
    print(f"\n3 pods on 2 minions: containerd {sum(m.get('containerd', 0) for m in used):.0f} MiB, the pods' shims "
          f"{shims:.0f} MiB ({shims / 3:.0f} MiB a pod); a minion's stand-ins: " +
          ", ".join(f"{name} {used[0].get(name, 0):.0f} MiB" for name in ("kubelet", "flanneld", "kube-proxy")))
    for i in HOSTS:
        assert answers(f"http://{lab.host_ip(i)}:{app.port}/")[0] == 200


def test_kub_drain_moves_the_pods_and_they_answer_again_elsewhere(lab, app):
    drained, other = MINIONS
    assert running_web(lab, drained), "nothing to move"
    app.execute("kub_drain", {"nodes": [f"kubh{drained}"]})
    assert wait_until(lambda: not running_web(lab, drained) and len(running_web(lab, other)) == 3, 60, 0.5)
    for i in HOSTS:   # the drained node's port too: kube-proxy sends it on to the other node
        status, body = answers(f"http://{lab.host_ip(i)}:{app.port}/")
        assert status == 200 and "kub lab web 1.0" in body, (i, status, body)
    app.execute("kub_uncordon", {"nodes": [f"kubh{drained}"]})


def test_an_image_that_does_not_exist_is_image_pull_back_off_with_containerds_reason(lab, app):
    lab.exec(MASTER, KUBECTL + f"run missing -n hello --image={MISSING}")

    def waiting():
        found = lab.exec(MASTER, KUBECTL + "get pod missing -n hello -o "
                                           "jsonpath='{.status.containerStatuses[0].state.waiting}'").stdout
        return found if "ImagePullBackOff" in found else None
    state = wait_until(waiting, 60, 0.5)
    assert state, "no ImagePullBackOff"
    # containerd's own words: its registry mirror (the lab's) has no such image
    reason = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{MISSING}": failed to resolve '
              f'image: {MISSING}: not found')
    assert json.loads(state) == {"reason": "ImagePullBackOff",
                                 "message": f'Back-off pulling image "{MISSING}": ErrImagePull: {reason}'}
    events = lab.exec(MASTER, KUBECTL + "get events -n hello --field-selector involvedObject.name=missing "
                                        "-o jsonpath='{.items[*].message}'").stdout
    assert f'Failed to pull image "{MISSING}": rpc error: code = NotFound' in events
    assert "ImagePullBackOff" in lab.exec(MASTER, KUBECTL + "get pod missing -n hello --no-headers").stdout
    lab.exec(MASTER, KUBECTL + "delete pod missing -n hello")


LEFT = r"""
ctr -n k8s.io containers ls -q; ctr -n k8s.io tasks ls -q
pgrep -x containerd-shim || pgrep -f '^/usr/local/bin/containerd-shim' || true
ip -o link show | awk -F': ' '$2 != "lo" && $2 !~ /^eth0@/ { print "link", $2 }'
ls /run/netns 2>/dev/null || true
find /var/lib/cni /run/flannel /var/lib/kubelet /var/log/pods -mindepth 1 2>/dev/null
iptables-save | grep -E 'KUBE-|FLANNEL|CNI-|cni0' || true
systemctl list-units --all --no-legend --plain 'kubepods-addon-*' 'kubepods-static-*' | awk '{ print $1 }'
"""


def test_uninstall_leaves_nothing_of_the_clusters_on_any_host(lab, app):
    app.uninstall()
    for i in HOSTS:
        assert lab.exec(i, LEFT).stdout.split() == [], i
