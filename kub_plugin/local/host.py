"""The machine running cfy as the place kubectl runs for a cluster reached through a kubeconfig alone (an
ExistingCluster without SSH): the same interface as an SSH host (hosts/ssh.py) for the kubectl steps of workloads
and kub_* workflows, with the real upstream kubectl of the cluster's release (kubectl_release.py).

Commands and the scripts of scripts/ run with bash as the user running cfy (no sudo), in a private folder (0700, in
kub's folder: places.py) made for the operation and removed after it: the kubeconfig given as text is written
there (0600) and named by a relative path; uploads go there too. kubectl keeps no cache. Locks are flock files in
kub's folder. Output that holds one of the kubeconfig's credentials is masked. Every failure is one line naming the
API server.
"""
import os
import shutil
import signal
import subprocess
import tempfile

import yaml

from ..errors import RemoteError, short
from ..hosts.commands import command_line
from ..hosts.payload import script_run
from ..hosts.runner import StepError, error_line
from ..hosts.scripts import NO_CACHE_DIR
from ..hosts.ssh import DEFAULT_COMMAND_TIMEOUT, HostBase, Result
from . import kubectl_release, places

PRIVATE_KUBECONFIG = "kubeconfig"   # the text form's file, in the private folder commands run in
VERSION_TIMEOUT = 60
CREDENTIALS = ("client-key-data", "client-certificate-data", "token", "password")


class LocalHost(HostBase):
    """The machine running cfy, working on the cluster of a cluster.kubeconfig_access.KubeconfigAccess. Use as a
    context manager. With a `plan` (hosts.plan.Plan), scripts run in plan mode and nothing is uploaded."""

    def __init__(self, access, logger, plan=None):
        self.access = access
        self.logger = logger
        self.plan = plan
        self.ip = access.endpoint   # how messages name where kub works
        self.server_release = None
        self._dir = None
        self._env = None
        self._secrets = _credentials(access.text)

    @property
    def kubeconfig(self):
        """The kubeconfig on kubectl's command line (relative: the private folder is every command's own)."""
        return self.access.file or PRIVATE_KUBECONFIG

    @property
    def is_open(self):
        return self._dir is not None

    def open(self):
        """Makes the private folder (with the kubeconfig given as text), then finds the cluster's release and its
        kubectl (downloaded when not kept)."""
        self._dir = tempfile.mkdtemp(prefix="op-", dir=places.kub_dir("run"))
        try:
            if not self.access.file:
                fd = os.open(os.path.join(self._dir, PRIVATE_KUBECONFIG), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(self.access.text)
            self._env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
            path, self.server_release = kubectl_release.cluster_kubectl(
                self.access.kubectl_url, kubectl_release.machine_arch(), self._server_release, self.log)
            self._env["PATH"] = os.pathsep.join((os.path.dirname(path), os.environ.get("PATH", "/usr/bin:/bin")))
        except BaseException:
            self.close()
            raise

    def close(self):
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _server_release(self, kubectl):
        """The API server's release, as `kubectl version` at that path reads it."""
        result = self._exec([kubectl, "--kubeconfig", self.kubeconfig, "--cache-dir", NO_CACHE_DIR, "version",
                             "-o", "json", f"--request-timeout={VERSION_TIMEOUT}s"], "", VERSION_TIMEOUT + 30,
                            "kubectl version")
        try:
            answer = yaml.safe_load(result.stdout or "{}").get("serverVersion") or {}
        except (yaml.YAMLError, AttributeError):
            answer = {}
        release = kubectl_release.release_of(answer.get("gitVersion") or "")
        if not result.ok or release is None:
            raise StepError(f"{self.ip}: the API server does not answer kubectl on the machine running cfy through "
                            f"{self.access.described} ({error_line(result)[:200]}): check that the cluster runs, "
                            f"that this machine reaches {self.ip}, and that the kubeconfig's credentials are valid")
        return release

    # -- running ----------------------------------------------------------------------------------

    def run(self, command, stdin="", sudo=False, timeout=DEFAULT_COMMAND_TIMEOUT):
        """Runs a command line with bash, as the user running cfy (`sudo` is not needed here)."""
        command = command_line(command)
        return self._exec(["bash", "-c", command.text], stdin, timeout, f"`{command.masked}`")

    def run_script(self, name, env=None, secret_env=None, timeout=DEFAULT_COMMAND_TIMEOUT, lock=None):
        """Runs scripts/<name> (after scripts/lib.sh) with bash, variables on stdin, under the flock `lock`
        (path, seconds) when given; in plan mode on a host opened for a plan (as hosts.ssh.Host.run_script)."""
        command, payload = script_run(name, env, secret_env, self.plan is not None, lock)
        return self._exec(["sh", "-c", command.text], payload, timeout, name)

    def upload(self, data, path, timeout=DEFAULT_COMMAND_TIMEOUT):
        """Writes bytes to a file of the private folder (`path` is taken inside it), mode 0600."""
        if self.plan is not None:
            raise AssertionError(f"{self.ip}: an upload of {path} in a plan (the step must not upload in one)")
        target = os.path.normpath(os.path.join(self._dir, path.lstrip("/")))
        if not target.startswith(self._dir + os.sep):
            raise AssertionError(f"{self.ip}: an upload to {path}, outside the operation's private folder")
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return Result("", "", 0)

    def _exec(self, argv, stdin, timeout, what):
        """One command in the private folder, all of it within `timeout` (then it and what it started are killed)."""
        data = stdin if isinstance(stdin, bytes) else stdin.encode()
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       cwd=self._dir, env=self._env, start_new_session=True)
        except OSError as err:
            raise RemoteError(f"{self.ip}: {what} cannot start on the machine running cfy ({short(err)}): it needs "
                              f"bash and flock (util-linux) there") from None
        try:
            out, err = process.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RemoteError(f"{self.ip}: {what} did not finish within {timeout} s on the machine running cfy: "
                              f"check that it reaches the API server, then run the workflow again") from None
        return Result(self._masked(out), self._masked(err), process.returncode)

    def _masked(self, output):
        text = output.decode(errors="replace")
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _credentials(text):
    """The kubeconfig's credentials (users' keys, tokens, passwords): never in a message."""
    try:
        config = yaml.safe_load(text) if text else {}
        users = config.get("users") or []
        return [value for user in users for key, value in (user.get("user") or {}).items()
                if key in CREDENTIALS and isinstance(value, str) and len(value) >= 8]
    except (yaml.YAMLError, AttributeError, TypeError):
        return []
