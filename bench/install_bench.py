#!/usr/bin/env python3
"""Measure kub itself: cfy install / converging re-run / uninstall times for 1 master + N minions on lab hosts.
Prints figures; asserts nothing.

usage: bench/install_bench.py [--index K] [--minions 2,8]   (needs root; default lab index 7)
Minion hosts are set up in parallel, so install time should grow little with N.
"""
import argparse
import tempfile
import time

from kub_lab.cfy import LocalCfy
from kub_lab.lab import Lab


def timed(fn, *args, **kwargs):
    started = time.monotonic()
    fn(*args, **kwargs)
    return time.monotonic() - started


def measure(lab, minions, workdir):
    lab.up(minions + 1, fresh=True)
    try:
        cfy = LocalCfy(workdir, blueprint_id=f"bench{minions}")
        cfy.stage()
        inputs = lab.inputs()
        inputs["local_kubeconfig_path"] = f"{workdir}/admin.conf"
        cfy.init(inputs)
        install = timed(cfy.install)
        cfy.init(inputs)          # fresh cfy state: every step runs again and finds nothing to change
        rerun = timed(cfy.install)
        uninstall = timed(cfy.uninstall)
    finally:
        lab.down()
    print(f"1 master + {minions:2d} minions: install {install:6.1f} s   re-run (no change) {rerun:5.1f} s   "
          f"uninstall {uninstall:5.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=7)
    parser.add_argument("--minions", default="2,8")
    args = parser.parse_args()
    lab = Lab(index=args.index)
    for count in (int(n) for n in args.minions.split(",")):
        with tempfile.TemporaryDirectory() as workdir:
            measure(lab, count, workdir)


if __name__ == "__main__":
    main()
