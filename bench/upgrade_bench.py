#!/usr/bin/env python3
"""Measure kub_upgrade: a 1 master + 2 minions cluster upgraded one minor (1.35 to 1.36), the whole run and per
node (from the log's lines of each host), beside T0 (installing a master alone) of the same run. Prints figures;
asserts nothing.

usage: bench/upgrade_bench.py [--index K]   (needs root; default lab index 7)
"""
import argparse
import re
import tempfile
import time
from datetime import datetime
from pathlib import Path

from kub_lab.cfy import LocalCfy
from kub_lab.lab import Lab

STEP = re.compile(r"^(\S+ \S+)\s+LOG <\S+> .*INFO: \[([0-9a-f.:]+)\] ")


def timed(action, *args):
    started = time.monotonic()
    result = action(*args)
    return time.monotonic() - started, result


def per_host(output):
    """{host ip: seconds from its first to its last log line}: how long the upgrade worked on each node."""
    seen = {}
    for line in output.splitlines():
        found = STEP.match(line)
        if found:
            when = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            first, _ = seen.get(found.group(2), (when, when))
            seen[found.group(2)] = (first, when)
    return {ip: last - first for ip, (first, last) in seen.items()}


def installed(lab, workdir, minions, minor):
    for i in range(1, minions + 2):
        lab.wipe(i)
    cfy = LocalCfy(workdir, blueprint_id=f"upgrade{minions}")
    cfy.stage()
    inputs = lab.inputs()
    inputs.update(minion_ips=[lab.host_ip(i) for i in range(2, minions + 2)], kubernetes_version=minor,
                  local_kubeconfig_path=f"{workdir}/admin.conf")
    cfy.init(inputs)
    seconds, _ = timed(cfy.install)
    return cfy, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=7)
    args = parser.parse_args()
    lab = Lab(index=args.index)
    lab.up(3, fresh=True)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            cfy, _ = installed(lab, Path(workdir) / "warm", 0, "1.36")   # warms the lab proxy's apt cache
            cfy.uninstall()
            cfy, t0 = installed(lab, Path(workdir) / "t0", 0, "1.36")
            cfy.uninstall()
            cfy, install = installed(lab, Path(workdir) / "cluster", 2, "1.35")
            seconds, result = timed(cfy.execute, "kub_upgrade", {"kubernetes_version": "1.36"})
            cfy.uninstall()
        print(f"T0 (a master alone): {t0:5.1f} s")
        print(f"upgrade of 1 master + 2 minions, 1.35 -> 1.36: {seconds:5.1f} s  (its install: {install:5.1f} s; "
              f"{seconds / 3:4.1f} s per node)")
        for ip, busy in sorted(per_host(result.stdout).items()):
            print(f"    {ip:>15}  {busy:5.1f} s from its first step to its last")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
