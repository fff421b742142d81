"""Leader election with a coordination.k8s.io Lease, as client-go's leaderelection does it for
kube-controller-manager: one holder at a time; a candidate takes the lease over only when its holder has not
renewed it for leaseDurationSeconds of the candidate's own clock; a leader that cannot renew within the renew
deadline stops (its process exits and the kubelet starts it again, as a candidate). Flags as the real ones:
--leader-elect, --leader-elect-lease-duration (15s), --leader-elect-renew-deadline (10s),
--leader-elect-retry-period (2s), --leader-elect-resource-name, --leader-elect-resource-namespace."""
import datetime
import os
import signal
import socket
import sys
import threading
import time
import uuid

from kube import client as kclient
from kube import util


def micro_time():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, api, opts, name):
        self.api = api
        self.namespace = opts.get("leader-elect-resource-namespace", "kube-system")
        self.name = opts.get("leader-elect-resource-name", name)
        self.duration = util.parse_duration(opts.get("leader-elect-lease-duration", "15s"))
        self.renew_deadline = util.parse_duration(opts.get("leader-elect-renew-deadline", "10s"))
        self.retry = util.parse_duration(opts.get("leader-elect-retry-period", "2s"))
        self.identity = "%s_%s" % (socket.gethostname(), uuid.uuid4())
        self.path = "/apis/coordination.k8s.io/v1/namespaces/%s/leases" % self.namespace
        self.observed = (None, 0.0)   # (holder and renew time last seen, local monotonic time it changed)
        self.leading = False

    def _spec(self, current=None):
        spec = dict((current or {}).get("spec") or {})
        now = micro_time()
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if current else 0)
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=int(self.duration), renewTime=now)
        return spec

    def try_acquire_or_renew(self):
        """One attempt (client-go's tryAcquireOrRenew): True while this process holds the lease."""
        try:
            lease = self.api.get(self.path + "/" + self.name)
        except kclient.ApiError as e:
            if e.code != 404:
                return False
            try:
                self.api.create(self.path, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                            "metadata": {"name": self.name, "namespace": self.namespace},
                                            "spec": self._spec()})
                return True
            except (kclient.ApiError, kclient.ConnectError):
                return False
        except kclient.ConnectError:
            return False
        spec = lease.get("spec") or {}
        seen = (spec.get("holderIdentity"), spec.get("renewTime"))
        if seen != self.observed[0]:
            self.observed = (seen, time.monotonic())
        holder = spec.get("holderIdentity")
        expired = time.monotonic() > self.observed[1] + int(spec.get("leaseDurationSeconds") or self.duration)
        if holder and holder != self.identity and not expired:
            return False
        lease["spec"] = self._spec(lease)   # its resourceVersion makes this a guarded write: one winner
        try:
            self.api.replace(self.path + "/" + self.name, lease)
        except (kclient.ApiError, kclient.ConnectError):
            return False
        self.observed = ((self.identity, lease["spec"]["renewTime"]), time.monotonic())
        return True

    def acquire(self):
        """Block until this process leads, then keep renewing in a thread; exit the process when leadership is
        lost (as kube-controller-manager does) and give the lease up on SIGTERM."""
        util.klog("I", 'attempting to acquire leader lease %s/%s...' % (self.namespace, self.name))
        while not self.try_acquire_or_renew():
            time.sleep(self.retry)
        self.leading = True
        util.klog("I", "successfully acquired lease %s/%s" % (self.namespace, self.name))
        signal.signal(signal.SIGTERM, self._release_and_exit)
        threading.Thread(target=self._renew, daemon=True).start()

    def _renew(self):
        last = time.monotonic()
        while True:
            time.sleep(self.retry)
            if self.try_acquire_or_renew():
                last = time.monotonic()
            elif time.monotonic() - last > self.renew_deadline:
                util.klog("E", "failed to renew lease %s/%s: timed out waiting for the condition"
                          % (self.namespace, self.name))
                util.klog("E", '"leaderelection lost"')
                os._exit(1)

    def _release_and_exit(self, *_):
        """Stopped on purpose: hand the lease on at once instead of letting it run out."""
        try:
            lease = self.api.get(self.path + "/" + self.name)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"].update(holderIdentity="", leaseDurationSeconds=1, renewTime=micro_time())
                self.api.replace(self.path + "/" + self.name, lease)
        except (kclient.ApiError, kclient.ConnectError, OSError):
            pass
        sys.stdout.flush()
        os._exit(0)
