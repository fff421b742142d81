"""Captures what scripts/facts.sh prints on lab hosts in each state kub leaves a host in, as the unit tests'
fixtures: `python -m kub_lab.capture_facts [--release trixie] DIR` writes DIR/{fresh,prepared,master,minion}.txt.

Host 3 is read fresh, then prepared by the real cfy (the master's create and configure operations of a deployment
of its own); hosts 1 and 2 after a whole `cfy install` (master and minion). The lab is stopped at the end."""
import argparse
import datetime
import logging
import os
import tempfile
from pathlib import Path

from kub_lab.cfy import LocalCfy
from kub_lab.lab import Lab
from kub_plugin.cluster.settings import SshSettings
from kub_plugin.hosts import state
from kub_plugin.hosts.ssh import Host

OS_NAMES = {"bookworm": "Debian 12 (bookworm)", "trixie": "Debian 13 (trixie)"}
MASTER, MINION, PREPARED = 1, 2, 3


def facts_text(lab, i):
    """facts.sh's output on host i, run as kub's gather runs it (over SSH, with state.SCRIPT_ENV)."""
    ssh = SshSettings(ip=lab.host_ip(i), private_key_path=lab.ssh_private_key_path,
                      known_hosts_path=lab.known_hosts_path)
    with Host(ssh, logging.getLogger("capture")) as host:
        result = host.run_script("facts.sh", env=state.SCRIPT_ENV, timeout=60)
    if not result.ok:
        raise SystemExit(f"facts.sh failed on host {i}: {result.stderr.strip()[-300:]}")
    return result.stdout


def save(lab, i, path, how, release):
    header = (f"# captured {datetime.date.today()} on a kub-lab host ({OS_NAMES[release]}, cgroup v1 as every lab "
              f"host), {how}: scripts/facts.sh run over SSH by kub's Host.run_script (kub_lab/capture_facts.py)\n")
    path.write_text(header + facts_text(lab, i))
    print(f"wrote {path}")


def capture(lab, release, out, workdir):
    lab.down()
    lab.up(3, fresh=True, release=release)
    inputs = lab.inputs()
    save(lab, PREPARED, out / "fresh.txt", "fresh from the lab's rootfs", release)

    prepared = LocalCfy(workdir / "prepared", blueprint_id="prepared")
    prepared.stage()
    prepared.init({**inputs, "master_ip": lab.host_ip(PREPARED), "minion_ips": []})
    for operation in ("create", "configure"):
        prepared.execute("execute_operation", {"operation": f"cloudify.interfaces.lifecycle.{operation}",
                                               "node_ids": ["master"]})
    save(lab, PREPARED, out / "prepared.txt",
         "after the create and configure operations of a master (cfy execute_operation)", release)

    cluster = LocalCfy(workdir / "cluster", blueprint_id="cluster")
    cluster.stage()
    cluster.init({**inputs, "master_ip": lab.host_ip(MASTER), "minion_ips": [lab.host_ip(MINION)],
                  "local_kubeconfig_path": str(workdir / "admin.conf")})
    cluster.install()
    how = "after `cfy install` of barevm-blueprint.yaml with the lab's inputs (one master, one minion)"
    save(lab, MASTER, out / "master.txt", f"the master {how}", release)
    save(lab, MINION, out / "minion.txt", f"the minion {how}", release)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", choices=sorted(OS_NAMES), default="bookworm")
    parser.add_argument("dir", type=Path)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    lab = Lab(int(os.environ.get("KUB_LAB_INDEX", 0)))
    try:
        with tempfile.TemporaryDirectory() as workdir:
            capture(lab, args.release, args.dir, Path(workdir))
    finally:
        lab.down()


if __name__ == "__main__":
    main()
