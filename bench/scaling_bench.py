#!/usr/bin/env python3
"""Measure adding one minion to a live cluster (kub_add_minions): to 1 master + 1 minion and to 1 master + 4
minions, each onto a fresh new host, beside T0 (installing a master alone) of the same run. Adding touches only
the new host (and the master for one token), so the two should be alike, and neither longer than T0. Prints
figures; asserts nothing.

usage: bench/scaling_bench.py [--index K] [--sizes 1,4]   (needs root; default lab index 7)
"""
import argparse
import tempfile
import time
from pathlib import Path

from kub_lab.cfy import LocalCfy
from kub_lab.lab import Lab


def timed(action, *args):
    started = time.monotonic()
    action(*args)
    return time.monotonic() - started


def cluster(lab, workdir, minions):
    """A freshly installed cluster of host 1 and `minions` minions (hosts 2..), and its install's seconds."""
    for i in range(1, minions + 3):   # the cluster's hosts and the one to add, all fresh
        lab.wipe(i)
    cfy = LocalCfy(workdir, blueprint_id=f"scale{minions}")
    cfy.stage()
    inputs = lab.inputs()
    inputs.update(minion_ips=[lab.host_ip(i) for i in range(2, minions + 2)],
                  local_kubeconfig_path=f"{workdir}/admin.conf")
    cfy.init(inputs)
    return cfy, timed(cfy.install)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=7)
    parser.add_argument("--sizes", default="1,4")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    lab = Lab(index=args.index)
    lab.up(max(sizes) + 2, fresh=True)
    try:
        with tempfile.TemporaryDirectory() as workdir:   # warms the lab proxy's apt cache; T0
            cfy, t0 = cluster(lab, Path(workdir) / "t0", 0)
            cfy.uninstall()
            cfy, t0 = cluster(lab, Path(workdir) / "t0again", 0)
            cfy.uninstall()
        print(f"T0 (a master alone): {t0:5.1f} s", flush=True)
        added = {}
        for minions in sizes:
            with tempfile.TemporaryDirectory() as workdir:
                cfy, install = cluster(lab, Path(workdir), minions)
                new = lab.host_ip(minions + 2)
                added[minions] = timed(cfy.execute, "kub_add_minions", {"ips": [new]})
                cfy.uninstall()
            print(f"add one minion to 1 master + {minions} minion{'s' if minions != 1 else ''}: "
                  f"{added[minions]:5.1f} s   (that cluster's install: {install:5.1f} s; add / T0 = "
                  f"{added[minions] / t0:.2f})", flush=True)
        if len(added) > 1:
            low, high = min(sizes), max(sizes)
            print(f"add to 1+{high} / add to 1+{low} = {added[high]:.1f} / {added[low]:.1f} = "
                  f"{added[high] / added[low]:.2f}   (target: within 1.2, and each no more than T0)")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
