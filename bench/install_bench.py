#!/usr/bin/env python3
"""Measure kub itself on lab hosts: install time of 1 master + 0 minions (T0) and 1 master + 4 minions (T4),
their ratio, the CPU seconds the hosts themselves used, and per host the seconds each operation took (so the
critical path shows). Then a converging re-run and the uninstall. Prints figures; asserts nothing.

usage: bench/install_bench.py [--index K] [--minions 0,4]   (needs root; default lab index 7)
Each size installs on fresh hosts, with apt's cache (the lab proxy's) warm from a first run.
"""
import argparse
import os
import re
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from kub_lab.cfy import LocalCfy
from kub_lab.lab import Lab

TASK = re.compile(r"^(\S+ \S+)\s+CFY <\S+> \[(\w+?)_\w+\.(\w+)\] Task (started|succeeded)")
STEP = re.compile(r"^(\S+ \S+)\s+LOG <\S+> \[(\w+?)_\w+\.(\w+)\] INFO: \[([0-9a-f.:]+)\] ")


def host_cpu_seconds(lab, i):
    """CPU time every process of lab host i used so far (its cgroup, as the lab lays it out)."""
    usage = Path(f"/sys/fs/cgroup/cpuacct/kublab{lab.index}/kub{lab.index}h{i}/cpuacct.usage")
    return int(usage.read_text()) / 1e9


def when(stamp):
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def operation_seconds(output):
    """{host ip: {operation: seconds}}: from the operation's start to that host's last step line in it."""
    started, per_host = {}, defaultdict(dict)
    for line in output.splitlines():
        task = TASK.match(line)
        if task and task.group(4) == "started":
            started[(task.group(2), task.group(3))] = when(task.group(1))
        step = STEP.match(line)
        if step and (step.group(2), step.group(3)) in started:
            key = (step.group(2), step.group(3))
            per_host[step.group(4)][step.group(3)] = when(step.group(1)) - started[key]
    return per_host


def measure(lab, minions, workdir, hosts):
    for i in hosts:
        lab.wipe(i)
    cfy = LocalCfy(workdir, blueprint_id=f"bench{minions}")
    cfy.stage()
    inputs = lab.inputs()
    inputs.update(minion_ips=[lab.host_ip(i) for i in range(2, minions + 2)],
                  local_kubeconfig_path=f"{workdir}/admin.conf")
    cfy.init(inputs)
    cpu_before = {i: host_cpu_seconds(lab, i) for i in range(1, minions + 2)}
    started = time.monotonic()
    output = cfy.install().stdout
    install = time.monotonic() - started
    cpu = {i: host_cpu_seconds(lab, i) - cpu_before[i] for i in cpu_before}
    # fresh cfy state (the cluster's id given back): every step runs again and finds nothing to change
    cfy.init({**inputs, "cluster_id": cfy.outputs()["cluster_id"]})
    started = time.monotonic()
    cfy.install()
    rerun = time.monotonic() - started
    started = time.monotonic()
    cfy.uninstall()
    uninstall = time.monotonic() - started
    return install, rerun, uninstall, cpu, operation_seconds(output)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=7)
    parser.add_argument("--minions", default="0,4")
    args = parser.parse_args()
    sizes = [int(n) for n in args.minions.split(",")]
    lab = Lab(index=args.index)
    lab.up(max(sizes) + 1, fresh=True)
    try:
        with tempfile.TemporaryDirectory() as workdir:   # warms the lab proxy's apt cache
            measure(lab, 0, Path(workdir) / "warm", [1])
        results = {}
        for count in sizes:
            with tempfile.TemporaryDirectory() as workdir:
                results[count] = measure(lab, count, Path(workdir), range(1, count + 2))
            install, rerun, uninstall, cpu, ops = results[count]
            print(f"1 master + {count} minions: install {install:5.1f} s   re-run (no change) {rerun:4.1f} s   "
                  f"uninstall {uninstall:4.1f} s   host CPU {sum(cpu.values()):5.1f} s "
                  f"({', '.join(f'{cpu[i]:.1f}' for i in sorted(cpu))})", flush=True)
            for ip in sorted(ops, key=lambda a: tuple(int(p) for p in a.split(".")) if "." in a else (0,)):
                print(f"    {ip:>15}  " + "  ".join(f"{op} {seconds:5.1f} s" for op, seconds in ops[ip].items()))
        if 0 in results and len(results) > 1:
            t0 = results[0][0]
            for count in sizes:
                if count:
                    cpu = sum(results[count][3].values())
                    # the lab's hosts share this machine's cores: their CPU alone bounds the install from below
                    print(f"T{count}/T0 = {results[count][0]:.1f} / {t0:.1f} = {results[count][0] / t0:.2f}   "
                          f"(the hosts' {cpu:.1f} s of CPU need at least {cpu / os.cpu_count():.1f} s on "
                          f"{os.cpu_count()} cores)")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
