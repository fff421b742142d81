"""kub-lab: command line over kub_lab.lab.Lab. Errors are one line on stderr and exit status 2."""
import argparse
import os
import subprocess
import sys

import yaml

from kub_lab.lab import Lab, parse_releases
from kub_lab.system import LabError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"kub-lab: {message} (see kub-lab --help)\n")
        sys.exit(2)


def _parser():
    parser = _Parser(prog="kub-lab", description="Debian test hosts on this machine for kub.")
    parser.add_argument("--index", type=int, default=None,
                        help="lab index 0..255 (default: $KUB_LAB_INDEX, else 0)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name, help, *args):
        sub = commands.add_parser(name, help=help)
        for arg, kind in args:
            sub.add_argument(arg, type=kind)
        return sub

    sub = command("up", "start N hosts (1..64) and the lab service", ("N", int))
    sub.add_argument("--fresh", action="store_true", help="start every host with an empty disk")
    sub.add_argument("--release", default="bookworm", metavar="RELEASE",
                     help="Debian release of the hosts: bookworm (default) or trixie; HOST=RELEASE,... for single "
                          "hosts (e.g. 2=trixie,3=trixie)")
    command("down", "stop the lab (host disks are kept)")
    command("status", "show the lab's hosts and service")
    sub = command("exec", "run a command as root in host I: exec I -- CMD...", ("I", int))
    sub.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD")
    command("known-hosts", "print known_hosts lines for the hosts")
    sub = command("inputs", "print blueprint inputs (YAML) for this lab")
    sub.add_argument("--examples", action="store_true", help="also the inputs of examples/ (the web app's image)")
    sub.add_argument("--kubeconfig", metavar="FILE",
                     help="instead, the inputs of examples/app-on-cluster-by-kubeconfig.yaml for the cluster of FILE")
    command("cut", "take host I's link down", ("I", int))
    command("heal", "bring host I's link up again", ("I", int))
    command("loss", "drop PCT percent of host I's packets", ("I", int), ("PCT", int))
    command("unloss", "stop dropping host I's packets", ("I", int))
    command("slow", "limit host I's link to RATE (e.g. 200kbit)", ("I", int), ("RATE", str))
    command("unslow", "remove host I's rate limit", ("I", int))
    command("crash", "power host I off hard (disk kept)", ("I", int))
    command("boot", "power host I on again", ("I", int))
    command("kill-sshd", "kill sshd in host I", ("I", int))
    command("start-sshd", "start sshd in host I again", ("I", int))
    command("wipe", "give host I a fresh disk (same IP and host key) and boot it", ("I", int))
    sub = command("isolate", "refuse this machine's new connections to hosts I... (reach them through another)")
    sub.add_argument("I", type=int, nargs="+")
    sub = command("unisolate", "let this machine reach hosts I... directly again (none given: all)")
    sub.add_argument("I", type=int, nargs="*")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except LabError as e:
        sys.stderr.write(f"kub-lab: {e}\n")
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args):
    lab = Lab(args.index)
    c = args.command
    if c == "up":
        release, releases = parse_releases(args.release)
        lab.up(args.N, fresh=args.fresh, release=release, releases=releases)
        print(f"lab {lab.index} up: hosts {', '.join(lab.host_ip(i) for i in lab.hosts())}; "
              f"ssh -i {lab.ssh_private_key_path} -o UserKnownHostsFile={lab.known_hosts_path} root@{lab.host_ip(1)}")
    elif c == "down":
        lab.down()
    elif c == "status":
        print(yaml.safe_dump(lab.status(), sort_keys=False), end="")
    elif c == "exec":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            raise LabError("exec needs a command: kub-lab exec I -- CMD...")
        argv = lab.exec_argv(args.I, cmd[0] if len(cmd) == 1 else cmd, term=os.environ.get("TERM", "dumb"))
        return subprocess.run(argv).returncode
    elif c == "known-hosts":
        print(lab.known_hosts(), end="")
    elif c == "inputs":
        inputs = (lab.kubeconfig_inputs(os.path.abspath(args.kubeconfig)) if args.kubeconfig
                  else lab.inputs(examples=args.examples))
        print(yaml.safe_dump(inputs, sort_keys=False), end="")
    elif c == "loss":
        lab.loss(args.I, args.PCT)
    elif c == "slow":
        lab.slow(args.I, args.RATE)
    elif c == "isolate":
        lab.isolate(*args.I)
    elif c == "unisolate":
        lab.unisolate(*args.I)
    else:
        method = {"cut": lab.cut, "heal": lab.heal, "unloss": lab.unloss, "unslow": lab.unslow,
                  "crash": lab.crash, "boot": lab.boot, "kill-sshd": lab.kill_sshd,
                  "start-sshd": lab.start_sshd, "wipe": lab.wipe}[c]
        method(args.I)
    return 0


if __name__ == "__main__":
    sys.exit(main())
