"""Writes, per host address, the seconds each task took on it (from its start on that host to its result)
to the JSON file named by STEP_TIMES_FILE: what install_bench shows per operation, for the playbooks."""
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "step_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.started = {}
        self.times = {}

    def v2_runner_on_start(self, host, task):
        self.started[(host.get_name(), task._uuid)] = time.monotonic()

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result)

    def _record(self, result):
        # by address, as kub logs; a run_once task counts for the host it ran for (the play's first)
        host = result._host
        started = self.started.get((host.get_name(), result._task._uuid), time.monotonic())
        address = host.vars.get("ansible_host", host.get_name())
        self.times.setdefault(address, {})[result._task.get_name()] = time.monotonic() - started

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["STEP_TIMES_FILE"], "w") as f:
            json.dump(self.times, f)
