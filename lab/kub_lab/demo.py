"""`make demo`: boot 3 lab hosts, install barevm-blueprint.yaml on them with the real cfy CLI, show the nodes.

    python -m kub_lab.demo up     exit 0 only when every node is Ready
    python -m kub_lab.demo down   uninstall, then take the lab down
"""
import json
import shutil
import subprocess
import sys

from kub_lab.cfy import CfyError, LocalCfy
from kub_lab.lab import Lab
from kub_lab.system import LabError

HOSTS = 3


def _cfy(lab):
    workdir = lab.state_dir / "demo"
    return LocalCfy(workdir, blueprint_id="demo")


def _ssh_master(lab, command):
    """Runs a command on the master over real ssh, host key checked against the lab's known_hosts."""
    return subprocess.run(["ssh", "-i", lab.ssh_private_key_path, "-o", "StrictHostKeyChecking=yes",
                           "-o", f"UserKnownHostsFile={lab.known_hosts_path}", "-o", "BatchMode=yes",
                           f"root@{lab.host_ip(1)}", command], text=True, capture_output=True, timeout=60)


def up():
    lab = Lab()
    if not lab.is_up():
        lab.up(HOSTS)
    cfy = _cfy(lab)
    cfy.stage()
    inputs = lab.inputs()
    inputs["minion_ips"] = [lab.host_ip(i) for i in range(2, HOSTS + 1)]
    inputs["local_kubeconfig_path"] = str(cfy.workdir / "admin.conf")
    cfy.init(inputs)
    print(f"cfy executions start install -b demo  (CFY_WORKDIR={cfy.workdir})", flush=True)
    cfy.install(check=False, show=True)
    client = _ssh_master(lab, "kubectl version --client -o json")
    if client.returncode == 0:
        info = json.loads(client.stdout)["clientVersion"]
        print(f"kubectl on the master: {info['gitVersion']} (upstream build, git commit {info['gitCommit']})")
    shown = _ssh_master(lab, "kubectl get nodes -o wide")   # kub gave the SSH user a kubeconfig
    print(shown.stdout or shown.stderr)
    listing = _ssh_master(lab, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json")
    nodes = json.loads(listing.stdout).get("items", []) if listing.returncode == 0 else []
    ready = [n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
    print(f"{len(ready)} of {HOSTS} nodes Ready; outputs: {json.dumps(cfy.outputs())}")
    return 0 if len(ready) == HOSTS else 1


def down():
    lab = Lab()
    cfy = _cfy(lab)
    if lab.is_up() and (cfy.workdir / ".cloudify").exists():
        if cfy.uninstall(check=False, show=True).returncode != 0:
            print("demo down: uninstall failed; the lab is left up to look at", file=sys.stderr)
            return 1
    shutil.rmtree(cfy.workdir, ignore_errors=True)
    if lab.is_up():
        lab.down()
    print("demo down: cluster uninstalled, lab stopped")
    return 0


def main():
    actions = {"up": up, "down": down}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        print("usage: python -m kub_lab.demo up|down", file=sys.stderr)
        return 2
    try:
        return actions[sys.argv[1]]()
    except (LabError, CfyError) as err:
        print(f"demo: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
