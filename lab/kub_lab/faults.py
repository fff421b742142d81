"""Faults the lab injects into its hosts: a cut cable, packet loss, a slow link, sshd killed, a hard power-off,
a power-on, a fresh disk, hosts this machine reaches only through another one. Mixed into Lab; each names the host
by its number.

Where each acts (see lab/README.md, "Faults"): cut takes the root-side veth down; loss drops packets with nft
rules in the bridge, unseen by the host; slow puts tbf on both ends of the link; crash kills every process of
the host and takes its network namespace and cable away with it, as a machine whose power is cut goes silent
(nothing answers for its addresses, not even ARP); boot and wipe start it with a fresh one, which clears cut,
loss and slow; isolate refuses this machine's new connections to the host with nft rules in this machine's output
hook, so the hosts still reach each other and the lab service.
"""
import json
import re
import shutil
import sys

from kub_lab import system
from kub_lab.system import LabError

RATE_PATTERN = re.compile(r"\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)", re.IGNORECASE)


class Faults:
    """The fault half of Lab (mixed into it)."""

    def cut(self, i):
        """Unplug host i's cable: its link goes down (clients see connect timeouts)."""
        self._require_host(i)
        system.run(["ip", "link", "set", self._veth(i), "down"])

    def heal(self, i):
        self._require_host(i)
        system.run(["ip", "link", "set", self._veth(i), "up"])

    def loss(self, i, pct):
        """Drop pct percent of host i's packets, both directions (in the bridge, unseen by the host)."""
        self._require_host(i)
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise LabError(f"packet loss {pct!r} is out of range; use a whole percentage 0..100")
        veth, table = self._veth(i), f"kublab{self.index}h{i}loss"
        match = "" if pct >= 100 else f"numgen random mod 100 < {pct} "
        system.nft_apply(f"""
add table bridge {table}
delete table bridge {table}
table bridge {table} {{
  chain inbound {{ type filter hook prerouting priority -300; iifname "{veth}" {match}drop; }}
  chain outbound {{ type filter hook postrouting priority -300; oifname "{veth}" {match}drop; }}
}}
""")

    def unloss(self, i):
        self._require_host(i)
        system.nft_delete_table("bridge", f"kublab{self.index}h{i}loss")

    def slow(self, i, rate):
        """Limit host i's link to rate (tc syntax, e.g. 200kbit), both directions."""
        self._require_host(i)
        if not isinstance(rate, str) or not RATE_PATTERN.fullmatch(rate):
            raise LabError(f"rate {rate!r} is not understood; use a number with a unit, like 200kbit or 1mbit")
        qdisc = ["qdisc", "replace", "dev"]
        shape = ["root", "tbf", "rate", rate, "burst", "16kb", "latency", "2s"]
        system.tc(qdisc + [self._veth(i)] + shape)
        system.tc(qdisc + ["eth0"] + shape, netns=self._netns(i))

    def unslow(self, i):
        self._require_host(i)
        system.run(["tc", "qdisc", "del", "dev", self._veth(i), "root"], check=False)
        system.run(["tc", "-n", self._netns(i), "qdisc", "del", "dev", "eth0", "root"], check=False)

    def isolate(self, *hosts):
        """Cut hosts off from this machine (the one running cfy) as a firewall in front of a private network
        would: its new connections to them are refused at once ("No route to host"). They still reach each other and
        the lab service (the apt proxy), so this machine reaches them only through a host left out (a bastion).
        Connections already open stay. Adds to the hosts isolated already."""
        for i in hosts:
            self._require_host(i)
        self._set_isolated(set(self.isolated()) | set(hosts))

    def unisolate(self, *hosts):
        """Let this machine reach hosts directly again (none given: every isolated host)."""
        self._require_up()
        self._set_isolated(set(self.isolated()) - set(hosts or self.isolated()))

    def isolated(self):
        """Numbers of the hosts isolated from this machine, in order."""
        found = system.run(["nft", "-j", "list", "set", "inet", self._isolation_table(), "isolated"], check=False)
        if found.returncode != 0:   # no table: none is
            return []
        elements = [e for item in json.loads(found.stdout)["nftables"] if "set" in item
                    for e in item["set"].get("elem", [])]
        return sorted(int(address.rsplit(".", 1)[1]) - 10 for address in elements)

    def _set_isolated(self, hosts):
        table = self._isolation_table()
        if not hosts:
            system.nft_delete_table("inet", table)
            return
        # replaced whole, in one transaction: the rule never exists twice, no host is reachable in between
        addresses = ", ".join(self.host_ip(i) for i in sorted(hosts))
        system.nft_apply(f"""
add table inet {table}
delete table inet {table}
table inet {table} {{
  set isolated {{ type ipv4_addr; elements = {{ {addresses} }}; }}
  chain output {{
    type filter hook output priority 0; policy accept;
    ip daddr @isolated ct state new reject with icmpx type admin-prohibited
  }}
}}
""")

    def _isolation_table(self):
        return f"kublab{self.index}isolate"

    def _require_reachable(self, i):
        """boot and wipe wait until host i answers ssh here: not while it is isolated."""
        if i in self.isolated():
            raise LabError(f"host {i} of lab {self.index} is isolated from this machine: "
                           f"`kub-lab --index {self.index} unisolate {i}` first")

    def kill_sshd(self, i):
        """Kill sshd in host i (listener and sessions); it stays dead until start_sshd, a reboot or boot."""
        self._require_host(i)
        self.exec(i, "systemctl stop ssh.service ssh.socket; pkill -KILL -x sshd; true")

    def start_sshd(self, i):
        self._require_host(i)
        self.exec(i, "systemctl start ssh.service")
        self._wait_ssh([i])

    def crash(self, i):
        """Power host i off hard: every process dies at once, the disk is kept. Its network namespace and link go
        with it, so its addresses (a virtual IP it held too) get no answer at all, as a dead machine's: clients
        time out, or get "no route to host" once their ARP entry is gone. boot starts it with a fresh one."""
        self._require_host(i)
        self._stop_hosts([i])

    def boot(self, i):
        """Power host i on again (after crash or a poweroff inside it); returns when it answers ssh."""
        self._require_host_number(i)
        self._require_reachable(i)
        if self._init_pid(i):
            raise LabError(f"host {i} of lab {self.index} is already running")
        self._stop_hosts([i])   # the old network namespace, and leftovers of a poweroff inside the host
        self._power_on(i)

    def wipe(self, i):
        """Give host i a fresh disk: crash it, throw its disk away, boot it. Same IP, host key, machine-id."""
        self._require_host_number(i)
        self._require_reachable(i)
        self._stop_hosts([i])
        disk = self._host_dir(i) / "disk"
        # the killed host's mounts go away lazily: a busy directory may need a moment to be removable
        if not system.wait_until(lambda: shutil.rmtree(disk, ignore_errors=True) or not disk.exists(),
                                 timeout=20, interval=0.2):
            raise LabError(f"host {i} of lab {self.index}: its disk {disk} could not be removed; try again")
        self._power_on(i)

    def _power_on(self, i):
        """Start host i and wait for ssh. A boot that dies at once (seen rarely, right after a hard power-off
        under load) is tried once more; its console log tells why."""
        config = self._config()
        for attempt in (1, 2):
            self._start_host(i, self._host_rootfs(config, i), config["hosts"])
            try:
                self._wait_ssh([i])
                return
            except LabError as err:
                if attempt == 2 or "stopped while booting" not in str(err):
                    raise
                print(f"kub-lab: {err}; booting it again", file=sys.stderr)
                self._stop_hosts([i])
