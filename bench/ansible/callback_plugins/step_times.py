"""Writes, per host address, the seconds each task took on it (from the task's start to that host's result) to the
JSON file named by STEP_TIMES_FILE: what install_bench shows per operation, for the playbooks."""
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

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.started[task._uuid] = time.monotonic()

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result)

    def _record(self, result):
        # by address, as kub logs; a delegated task counts for the host it ran for (run_once: the play's first)
        seconds = time.monotonic() - self.started.get(result._task._uuid, time.monotonic())
        host = result._host.vars.get("ansible_host", result._host.get_name())
        self.times.setdefault(host, {})[result._task.get_name()] = seconds

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["STEP_TIMES_FILE"], "w") as f:
            json.dump(self.times, f)
