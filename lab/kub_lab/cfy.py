"""The real Cloudify CLI in local mode, driven for the demo and the end-to-end tests.

Each LocalCfy has its own work dir (CFY_WORKDIR) holding cfy's state, a staged copy of the blueprint (cfy
copies a blueprint's whole folder into its state, so the blueprint gets a folder of its own) and a CLI
config whose import_resolver maps Cloudify's types URL to kub's offline types file.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
TYPES_URL = "https://cloudify.co/spec/cloudify/6.4.0/types.yaml"
OFFLINE_TYPES = PROJECT / "offline" / "cloudify-types.yaml"
# several nodes at once; lost connections are retried, every other kub error is final
INSTALL_OPTIONS = ("--task-thread-pool-size", "8", "--task-retries", "2", "--task-retry-interval", "5")


class CfyError(Exception):
    pass


class LocalCfy:
    def __init__(self, workdir, blueprint_id="kub", blueprint=PROJECT / "barevm-blueprint.yaml", venv=None):
        """venv: the virtualenv whose cfy runs (and so whose kub); default: this one."""
        self.workdir = Path(workdir)
        self.blueprint_id = blueprint_id
        self.source = Path(blueprint)
        self.blueprint_dir = self.workdir / "blueprint"
        self.blueprint = self.blueprint_dir / self.source.name
        self.cfy = str((Path(venv) / "bin" if venv else Path(sys.executable).parent) / "cfy")
        self.env = {**os.environ, "CFY_WORKDIR": str(self.workdir)}
        self.cwd = None   # where cfy runs (the README's steps run it in the blueprint's folder)

    def run(self, *args, check=True, timeout=1800, show=False):
        """Runs cfy; its output is returned (and shown as it comes when show is set)."""
        result = subprocess.run([self.cfy, *args], env=self.env, text=True, timeout=timeout, cwd=self.cwd,
                                stdout=None if show else subprocess.PIPE, stderr=None if show else subprocess.STDOUT)
        if check and result.returncode != 0:
            output = result.stdout or ""
            # every failed task's line, however early it came, then the end of the output
            failed = [line for line in output.splitlines() if "Task failed" in line]
            raise CfyError(f"cfy {' '.join(args)} failed ({result.returncode}):\n"
                           + "".join(f"{line[:2000]}\n" for line in failed) + f"...\n{output[-4000:]}")
        return result

    def stage(self, extra_files=()):
        """Copies the blueprint and plugin.yaml into a folder of their own; sets up offline imports."""
        self.blueprint_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.source, PROJECT / "plugin.yaml", *map(Path, extra_files)):
            shutil.copy(path, self.blueprint_dir / path.name)
        config = self.workdir / ".cloudify" / "config.yaml"
        if not config.exists():
            self.run("profiles", "list")   # creates the local profile and its config.yaml
        text = config.read_text()
        if "import_resolver" not in text:
            rule = {"import_resolver": {"parameters": {"fallback": False, "rules": [
                {TYPES_URL: OFFLINE_TYPES.as_uri()}]}}}
            config.write_text(text + "\n" + yaml.safe_dump(rule))

    def init(self, inputs, check=True):
        inputs_file = self.workdir / "inputs.yaml"
        inputs_file.write_text(yaml.safe_dump(inputs))
        return self.run("init", str(self.blueprint), "-b", self.blueprint_id, "-i", str(inputs_file),
                        check=check)

    def execute(self, workflow, parameters=None, check=True, options=INSTALL_OPTIONS, show=False):
        args = ["executions", "start", workflow, "-b", self.blueprint_id, *options]
        if parameters:
            args += ["-p", json.dumps(parameters)]
        return self.run(*args, check=check, show=show)

    def install(self, check=True, show=False):
        return self.execute("install", check=check, show=show)

    def uninstall(self, check=True, show=False):
        return self.execute("uninstall", check=check, show=show)

    def outputs(self):
        return json.loads(self.run("deployments", "outputs", "-b", self.blueprint_id).stdout)

    def node_instances(self):
        return json.loads(self.run("node-instances", "-b", self.blueprint_id).stdout)
