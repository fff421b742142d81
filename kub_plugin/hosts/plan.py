"""A plan: what a run would change, host by host, told before anything changes (k0sctl's and KubeOne's dry runs).

A host opened with a Plan (hosts.ssh.Host(..., plan=...)) runs every script of kub in plan mode (KUB_DRY_RUN=yes):
the script reads as usual, changes nothing and prints `would: ...` for each change; the runner adds those lines
here instead of logging them. The plan then reads one line per change per host:

    + 10.0.0.12 installed containerd 2.1.9 and runc 1.3.3 under /usr/local
    ~ 10.0.0.11 wrote /etc/containerd/config.toml: SystemdCgroup = true
    - 10.0.0.13 kubeadm reset
    = 10.0.0.14 no change
"""
import threading

# what a change's words say it does: adds (+), removes (-), or else changes what is there (~)
ADDS = ("installed ", "joined ", "kubeadm init", "created ", "applied ", "loaded module ", "recorded ")
ADDS_AT_END = (" created", " exposed")
REMOVES = ("removed ", "purged ", "kubeadm reset", "deleted ", "drained and deleted ", "put back ", "evicting pod ")
REMOVES_AT_END = (" deleted",)


def sign(change):
    """+, - or ~ for one `would:` line's text."""
    if change.startswith(REMOVES) or change.endswith(REMOVES_AT_END):
        return "-"
    if change.startswith(ADDS) or change.endswith(ADDS_AT_END):
        return "+"
    return "~"


class Plan:
    """The changes a run would make, per host, in the order the hosts were named (steps run on several at once)."""

    def __init__(self, ips=()):
        self._changes = {ip: [] for ip in ips}
        self._lock = threading.Lock()

    def add(self, ip, changes):
        """A step's `would:` lines on a host (none: the host is planned, without change from that step)."""
        with self._lock:
            self._changes.setdefault(ip, []).extend(changes)

    def changes(self, ip):
        return list(self._changes.get(ip, []))

    @property
    def hosts(self):
        return list(self._changes)

    @property
    def empty(self):
        return not any(self._changes.values())

    def lines(self):
        """One line per change per host, `= <ip> no change` for a host without any."""
        out = []
        for ip, changes in self._changes.items():
            out += [f"{sign(change)} {ip} {change}" for change in changes] or [f"= {ip} no change"]
        return out

    def report(self, logger, what):
        """Logs the plan: a heading naming `what` was planned, then its lines."""
        count = sum(len(changes) for changes in self._changes.values())
        hosts = sum(1 for changes in self._changes.values() if changes)
        logger.info(f"plan of {what}: " + (f"{count} change{'s' if count != 1 else ''} on {hosts} of "
                                            f"{len(self._changes)} host{'s' if len(self._changes) != 1 else ''}"
                                            if count else "no change") + " (nothing was changed)")
        for line in self.lines():
            logger.info(line)
