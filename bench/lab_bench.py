#!/usr/bin/env python3
"""Measure the lab: up/down times, time to ssh, and memory per host. Prints figures; asserts nothing.

usage: bench/lab_bench.py [--index K] [--sizes 3,32]     (needs root; default index 7, which nobody else uses)
Targets: `up 3` with a warm rootfs <= 10 s to all hosts answering ssh; `down` after `up 32` <= 15 s.
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

from kub_lab import rootfs
from kub_lab.lab import Lab


def timed(fn, *args):
    started = time.monotonic()
    result = fn(*args)
    return time.monotonic() - started, result


def ssh_round_trip(lab, i):
    argv = ["ssh", "-i", lab.ssh_private_key_path, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={lab.known_hosts_path}", f"root@{lab.host_ip(i)}", "true"]
    return subprocess.run(argv, capture_output=True, timeout=60).returncode


def memory_mib():
    fields = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    return (int(fields["MemTotal"].split()[0]) - int(fields["MemAvailable"].split()[0])) / 1024


def all_running(lab, hosts):
    return all(lab.exec(i, "systemctl is-system-running --wait", check=False, timeout=120).stdout.strip()
               in ("running", "degraded") for i in hosts)


def bench(lab, n):
    lab.down()
    memory_before = memory_mib()
    up_seconds, _ = timed(lab.up, n)   # returns when every host answers ssh
    hosts = lab.hosts()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        login_seconds, codes = timed(lambda: list(pool.map(lambda i: ssh_round_trip(lab, i), hosts)))
        running_seconds, _ = timed(lambda: list(pool.map(lambda i: all_running(lab, [i]), hosts)))
    memory_per_host = (memory_mib() - memory_before) / n
    wipe_seconds, _ = timed(lab.wipe, 1)
    crash_boot_seconds, _ = timed(lambda: (lab.crash(1), lab.boot(1)))
    down_seconds, _ = timed(lab.down)
    print(f"up {n:>2}: {up_seconds:6.2f} s to all answering ssh ({len(hosts)} hosts up) | "
          f"ssh login to all in parallel {login_seconds:5.2f} s ({codes.count(0)}/{len(codes)} ok) | "
          f"all systemd running +{running_seconds:5.2f} s | ~{memory_per_host:5.1f} MiB/host | "
          f"wipe {wipe_seconds:4.2f} s | crash+boot {crash_boot_seconds:4.2f} s | down {down_seconds:5.2f} s",
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=int(os.environ.get("KUB_LAB_BENCH_INDEX", 7)))
    parser.add_argument("--sizes", default="3,10,32")
    args = parser.parse_args()
    lab = Lab(args.index)
    cold = not rootfs.is_built()
    seconds, path = timed(rootfs.ensure_rootfs)
    print(f"rootfs: {path} ({'built in %.1f s' % seconds if cold else 'cached'})", flush=True)
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            bench(lab, n)
    finally:
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
