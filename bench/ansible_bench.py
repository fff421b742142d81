#!/usr/bin/env python3
"""Compare kub with an Ansible fan-out of the same host steps, on the same lab hosts: install time and the
CPU seconds the hosts used, per cluster size, kub's own install (bench/install_bench.py) beside it.

usage: bench/ansible_bench.py [--index K] [--minions 0,4] [--runs 2]   (needs root; default lab index 3)

The Ansible side runs kub's very scripts (scripts/*.sh behind scripts/lib.sh and the same exports, under
the same flock), with payloads, package versions, repository key, containerd release files and kubeadm
configurations made by kub's own code. Two playbooks run at once, as kub's master and minion nodes do: the
master's (configure, init, kubeconfig, CNI, Ready) and the minions' (configure, then once the master's API
answers: one join token, the joins, Ready). Each run starts on fresh hosts, apt's cache (the lab proxy's)
warm from a first kub run. ansible-core is installed from PyPI into bench/.ansible-venv on first use.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import yaml
from install_bench import host_cpu_seconds, measure

from kub_lab.cfy import CfyError
from kub_lab.lab import Lab
from kub_plugin.cluster import kubeadm
from kub_plugin.cluster.properties import cluster_settings
from kub_plugin.cluster.settings import ClusterSettings, field_names
from kub_plugin.hosts import state
from kub_plugin.hosts.payload import locked_bash, script_payload
from kub_plugin.local import containerd, downloads, manifests, packages

HERE = Path(__file__).resolve().parent
PLAYBOOKS = HERE / "ansible"
ANSIBLE_VENV = HERE / ".ansible-venv"
ANSIBLE_CORE = "ansible-core==2.19.14"
CLUSTER_ID = "ansible-bench/master"
# how kub runs a changing script: under the host's kub lock (connection.Host.run_script)
LOCKED = locked_bash(state.LOCK_FILE, state.LOCK_WAIT_SECONDS)
KUBECTL = f"kubectl --kubeconfig {state.ADMIN_CONF}"


def ansible_playbook():
    """The ansible-playbook of bench/.ansible-venv, installed there first when missing."""
    program = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if not program.exists():
        venv.create(ANSIBLE_VENV, with_pip=True)
        subprocess.run([ANSIBLE_VENV / "bin" / "pip", "install", "-q", ANSIBLE_CORE], check=True)
    return program


def lab_settings(lab):
    """The cluster settings kub gets from the lab's blueprint inputs."""
    inputs = lab.inputs()
    return cluster_settings({"cluster": {k: inputs[k] for k in field_names(ClusterSettings) if k in inputs}})


def payload(name, env=None):
    """What kub sends to `bash -s` for scripts/<name>: the exports, lib.sh, the script."""
    return script_payload(name, {**state.SCRIPT_ENV, **(env or {})})


def write_payloads(folder, lab, settings, nodes):
    """Every host step's payload and containerd's release files, made with kub's code. Values only the run
    knows (the kubeadm version, the join token, the CA pin) are @PLACEHOLDERS@ the playbooks fill in."""
    versions = packages.repository_versions(settings, ["amd64"])
    release = containerd.containerd_release(settings, "amd64")
    master_ip, master = lab.host_ip(1), nodes[1]
    files = {
        "facts.sh": payload("facts.sh"),
        "prepare-host.sh": payload("prepare-host.sh", {"KUB_OWNER": CLUSTER_ID}),
        "packages.sh": payload("packages.sh", {
            "KUB_REPO_URL": settings.repository_url, "KUB_REPO_KEY": packages.repository_key(settings),
            "KUB_INSTALL": " ".join(f"{p}={v}" for p, v in sorted(versions.items())),
            "KUB_OS_PACKAGES": ""}),
        "containerd-release.sh": payload("containerd-release.sh", {"KUB_RECORD": release.record, **release.sums()}),
        "containerd.sh": payload("containerd.sh"),
        "user-kubeconfig.sh": payload("user-kubeconfig.sh", {"KUB_USER": "root"}),
        "cni.sh": payload("cni.sh", {"KUB_MANIFEST": manifests.cni_manifest(settings.cni_manifest, None)}),
    }
    token = kubeadm.new_token()
    config = kubeadm.init_configuration(settings, master_ip, master["node_name"], "@KUBEADM_VERSION@", token,
                                        master["cgroup_v1"])
    files["init.sh"] = payload("init.sh", {
        "KUB_INIT_TOKEN_ID": kubeadm.token_id(token), "KUB_RECORD": kubeadm.record(settings),
        "KUB_CRI_SOCKET": settings.cri_socket, "KUB_INIT_CONFIG": config})
    endpoint = kubeadm.host_port(master_ip)
    for i, node in nodes.items():
        if i > 1:
            config = kubeadm.join_configuration(settings, endpoint, "@JOIN_TOKEN@", "@CA_CERT_HASH@",
                                                node["node_name"], node["cgroup_v1"])
            files[f"join-{node['node_name']}.sh"] = payload("join.sh", {
                "KUB_API_ENDPOINT": endpoint, "KUB_RESET_FIRST": "no", "KUB_RECORD": kubeadm.record(settings),
                "KUB_CRI_SOCKET": settings.cri_socket, "KUB_JOIN_CONFIG": config})
    folder.mkdir(mode=0o700)
    for name, text in files.items():
        (folder / name).write_text(text)
    for name, data in (("containerd.tar.gz", release.tarball), ("runc", release.runc),
                       ("containerd.service", release.unit)):
        (folder / name).write_bytes(data)


def host_nodes(lab, hosts):
    """{host index: node name and cgroup layout}: the facts kub renders kubeadm's configurations from."""
    nodes = {}
    for i in hosts:
        name, cgroup_fs = lab.exec(i, "hostname; stat -fc %T /sys/fs/cgroup").stdout.split()
        nodes[i] = {"node_name": name.lower(), "cgroup_v1": cgroup_fs != "cgroup2fs"}
    return nodes


def write_ansible_config(workdir, lab, nodes):
    """Inventory and ansible.cfg: host keys checked against the lab's known_hosts, pipelining, one fork per
    host, no fact gathering (kub's facts.sh is a step of its own)."""
    def group(indexes):
        return {"hosts": {nodes[i]["node_name"]: {"ansible_host": lab.host_ip(i), "node_name": nodes[i]["node_name"]}
                          for i in indexes}}
    inventory = {"all": {
        "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": lab.ssh_private_key_path,
                 "ansible_python_interpreter": "/usr/bin/python3", "payloads": str(workdir / "payloads"),
                 "workdir": str(workdir), "locked": LOCKED, "kubectl": KUBECTL,
                 "staging": state.CONTAINERD_STAGING, "record_file": state.RECORD_FILE},
        "children": {"master": group([1]), "minions": group([i for i in nodes if i > 1])}}}
    (workdir / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))   # hosts in order
    ssh_args = (f"-o ControlMaster=auto -o ControlPersist=60s -o StrictHostKeyChecking=yes "
                f"-o UserKnownHostsFile={lab.known_hosts_path}")
    (workdir / "ansible.cfg").write_text(f"""\
[defaults]
inventory = {workdir}/inventory.yml
forks = {len(nodes)}
host_key_checking = True
gathering = explicit
retry_files_enabled = False
callbacks_enabled = step_times

[ssh_connection]
pipelining = True
ssh_args = {ssh_args}
control_path_dir = {workdir}/cp
""")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ansible(lab, minions):
    """Ansible's install on fresh hosts: (wall seconds, {host: CPU seconds}, controller CPU seconds,
    {node name: {task: seconds}})."""
    hosts = range(1, minions + 2)
    for i in hosts:
        lab.wipe(i)
    program = ansible_playbook()
    with tempfile.TemporaryDirectory(prefix="ab") as temporary:   # short: ssh's control socket paths are
        workdir = Path(temporary)
        books = ["master.yml"] + (["minions.yml"] if minions else [])
        cpu_before = {i: host_cpu_seconds(lab, i) for i in hosts}
        controller_before = children_cpu()
        started = time.monotonic()
        # timed too, as kub's install fetches and renders the same; nothing kept from an earlier run
        downloads._cache.clear()
        nodes = host_nodes(lab, hosts)
        write_payloads(workdir / "payloads", lab, lab_settings(lab), nodes)
        write_ansible_config(workdir, lab, nodes)
        runs = [subprocess.Popen([program, str(PLAYBOOKS / book)], text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT,
                                 env={**os.environ, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg"),
                                      "STEP_TIMES_FILE": str(workdir / f"{book}.times")})
                for book in books]
        outputs = [run.communicate()[0] for run in runs]
        wall = time.monotonic() - started
        cpu = {i: host_cpu_seconds(lab, i) - cpu_before[i] for i in hosts}
        for book, run, output in zip(books, runs, outputs):
            if run.returncode:
                raise RuntimeError(f"ansible-playbook {book} failed ({run.returncode}):\n{output[-6000:]}")
        steps = {}
        for book in books:
            steps.update(json.loads((workdir / f"{book}.times").read_text()))
    return wall, cpu, children_cpu() - controller_before, steps


def run_kub(lab, minions):
    """kub's install of the same size, as bench/install_bench.py measures it: (wall seconds, {host: CPU
    seconds}, {host address: {operation: seconds}})."""
    with tempfile.TemporaryDirectory() as workdir:
        install, _, _, cpu, ops = measure(lab, minions, Path(workdir), range(1, minions + 2))
    return install, cpu, ops


def show(title, wall, cpu, steps, extra=""):
    """One run's line, as install_bench prints it, then per host the seconds of each step."""
    print(f"{title} {wall:5.1f} s   host CPU {sum(cpu.values()):5.1f} s "
          f"({', '.join(f'{cpu[i]:.1f}' for i in sorted(cpu))}){extra}")
    for ip in sorted(steps, key=lambda a: tuple(int(p) for p in a.split(".")) if "." in a else (0,)):
        print(f"    {ip:>15}  " + "  ".join(f"{step} {seconds:4.1f} s" for step, seconds in steps[ip].items()))
    sys.stdout.flush()


def run_side(lab, side, count, title):
    """One install by kub or by Ansible, shown: (wall seconds, {host: CPU seconds}), or None when it failed
    (then the line that says why is shown, and the bench goes on)."""
    load = os.getloadavg()[0]
    try:
        if side == "kub":
            wall, cpu, ops = run_kub(lab, count)
            show(f"{title} kub install    ", wall, cpu, ops, f"   load before {load:.1f}")
        else:
            wall, cpu, controller, steps = run_ansible(lab, count)
            show(f"{title} Ansible install", wall, cpu, steps,
                 f"   controller CPU {controller:4.1f} s   load before {load:.1f}")
    except (CfyError, RuntimeError) as err:
        print(f"{title} {side} install FAILED: {failure_line(str(err))}", flush=True)
        return None
    return wall, cpu


def failure_line(text):
    """The line of cfy's or ansible-playbook's output that says what failed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    marked = [line for line in lines if "Task failed" in line or "FAILED!" in line]
    return (marked or lines or ["?"])[0][:400]


def span(values):
    """'min-max s' of a size's runs, in one column's width."""
    if not values:
        return f"{'-':>18}"
    text = f"{min(values):.1f}-{max(values):.1f} s" if len(values) > 1 else f"{values[0]:.1f} s"
    return f"{text:>18}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=3)
    parser.add_argument("--minions", default="0,4")
    parser.add_argument("--runs", type=int, default=2, help="runs of each side per size")
    args = parser.parse_args()
    sizes = [int(n) for n in args.minions.split(",")]
    ansible_playbook()
    lab = Lab(index=args.index)
    lab.up(max(sizes) + 1, fresh=True)
    try:
        with tempfile.TemporaryDirectory() as workdir:   # warms the lab proxy's apt cache
            measure(lab, 0, Path(workdir) / "warm", [1])
        summary = {count: {"kub": [], "Ansible": []} for count in sizes}
        for count in sizes:
            for run in range(1, args.runs + 1):
                # the sides take turns at going first, so neither always follows the other's uninstall
                for side in (("Ansible", "kub") if run % 2 else ("kub", "Ansible")):
                    result = run_side(lab, side, count, f"1 master + {count} minions, run {run}:")
                    summary[count][side].append(result)
        print(f"\n{'size':<5}" + "".join(f"{title:>18}" for title in (
            "kub wall", "Ansible wall", "kub host CPU", "Ansible host CPU")) + "   runs failed")
        for count, sides in summary.items():
            done = {side: [r for r in results if r] for side, results in sides.items()}
            walls = {side: [wall for wall, _ in results] for side, results in done.items()}
            cpus = {side: [sum(cpu.values()) for _, cpu in results] for side, results in done.items()}
            failed = {side: len(sides[side]) - len(done[side]) for side in sides}
            print(f"T{count:<4}{span(walls['kub'])}{span(walls['Ansible'])}{span(cpus['kub'])}"
                  f"{span(cpus['Ansible'])}   kub {failed['kub']}, Ansible {failed['Ansible']}")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
