"""The boundary between kub's Python and the shell of scripts/: each script, and the variables it takes.

Every script also gets the shared variables of state.SCRIPT_ENV (host paths, package lists) and, on a host opened
for a plan, DRY_RUN=yes (hosts/ssh.py). A step names the rest by keyword, without the prefix:

    runner.apply(host, "reset", scripts.RESET.call(purge="no", cri_socket=..., os_packages=...))

A variable missing or unknown is a programming error (TypeError), raised before anything is sent. Secret
variables travel like the others on the script's standard input, kept apart so that no step logs them.
tests/unit/test_script_table.py checks this table against what each script reads.
"""
from dataclasses import dataclass

from . import state

PREFIX = "KUB_"
DRY_RUN = "KUB_DRY_RUN"
# kubectl keeps no discovery or HTTP cache on the host (it ignores a cache it cannot write): on a cluster kub did
# not install, nothing of kub's may stay behind, not even kubectl's cache in root's home. (KUBECACHEDIR is the
# default of --cache-dir.)
NO_CACHE_DIR = "/dev/null"
NO_CACHE = {"KUBECACHEDIR": NO_CACHE_DIR}


@dataclass(frozen=True)
class ScriptCall:
    """A script with its checked variables: `env` (the shared ones included) and `secret_env`."""
    script: "Script"
    env: dict
    secret_env: dict

    @property
    def name(self):
        return self.script.name


@dataclass(frozen=True)
class Script:
    """A script of scripts/ (`name`, its file) and its own variables: those it requires, those it may go without
    (it reads them with a default), the secret ones (required), and those it always gets (`fixed`, (name, value))."""
    name: str
    required: tuple = ()
    optional: tuple = ()
    secret: tuple = ()
    fixed: tuple = ()

    @property
    def variables(self):
        """Every variable of its own, by name."""
        return frozenset(self.required + self.optional + self.secret)

    def call(self, **values):
        """The script with its variables given by keyword (cluster_id= for KUB_CLUSTER_ID), checked."""
        env = {PREFIX + key.upper(): value for key, value in values.items()}
        return self.bind({k: v for k, v in env.items() if k not in self.secret},
                         {k: v for k, v in env.items() if k in self.secret})

    def bind(self, env=None, secret_env=None):
        """The script with its variables given by name (secret ones in secret_env), checked."""
        env, secret_env = dict(env or {}), dict(secret_env or {})
        fixed = dict(self.fixed)
        unknown = sorted(set(env) - set(self.required) - set(self.optional) - set(fixed))
        unknown += sorted(set(secret_env) - set(self.secret))
        missing = sorted(name for name in self.required if env.get(name) is None)
        missing += sorted(name for name in self.secret if secret_env.get(name) is None)
        if unknown or missing:
            raise TypeError(f"{self.name} takes {', '.join(sorted(self.variables)) or 'no variable of its own'}"
                            f" (secret: {', '.join(self.secret) or 'none'}):"
                            + (f" unknown {', '.join(unknown)}" if unknown else "")
                            + (f" missing {', '.join(missing)}" if missing else ""))
        return ScriptCall(self, {**state.SCRIPT_ENV, **fixed, **env}, secret_env)


FACTS = Script("facts.sh")
ENDPOINT_CHECK = Script("endpoint-check.sh", required=("KUB_ENDPOINT_HOST", "KUB_ENDPOINT_PORT"))
PREPARE_HOST = Script("prepare-host.sh", required=("KUB_CLUSTER_ID", "KUB_OWNER"))
PACKAGES = Script("packages.sh", required=("KUB_REPO_URL", "KUB_REPO_KEY", "KUB_INSTALL"),
                  optional=("KUB_OS_PACKAGES",))
CONTAINERD_RELEASE = Script("containerd-release.sh",
                            required=("KUB_RECORD", "KUB_TARBALL_SHA256", "KUB_RUNC_SHA256", "KUB_UNIT_SHA256"))
CONTAINERD = Script("containerd.sh", required=("KUB_REGISTRY_HOSTS",))
API_BALANCER = Script("api-balancer.sh", required=("KUB_HAPROXY_CONFIG", "KUB_KEEPALIVED_CONFIG", "KUB_CHECK_SCRIPT",
                                                   "KUB_HAPROXY_UNIT", "KUB_KEEPALIVED_UNIT"))
INIT = Script("init.sh", required=("KUB_INIT_TOKEN_ID", "KUB_RECORD", "KUB_CRI_SOCKET", "KUB_CLUSTER_ID"),
              secret=("KUB_INIT_CONFIG",))
JOIN = Script("join.sh", required=("KUB_API_ENDPOINT", "KUB_RESET_FIRST", "KUB_RECORD", "KUB_CRI_SOCKET"),
              optional=("KUB_CONTROL_PLANE",), secret=("KUB_JOIN_CONFIG",))
CONTROL_PLANE_CERTS = Script("control-plane-certs.sh", required=("KUB_ACTION",), optional=(),
                             secret=("KUB_CERTIFICATE_KEY",))
ETCD_MEMBER = Script("etcd-member.sh", required=("KUB_PEER_URL",))
USER_KUBECONFIG = Script("user-kubeconfig.sh", required=("KUB_USER",))
CNI = Script("cni.sh", required=("KUB_MANIFEST",))
CNI_RECORD = Script("cni-record.sh")
REMOVE_NODES = Script("remove-nodes.sh",
                      required=("KUB_CLUSTER_ID", "KUB_NODES", "KUB_DRAIN_TIMEOUT", "KUB_FORCE_DRAIN"))
ETCD_TOOLS = Script("etcd-tools.sh", required=("KUB_RECORD", "KUB_TARBALL_SHA256"))
BACKUP = Script("backup.sh", required=("KUB_ACTION",))
RESTORE = Script("restore.sh", required=("KUB_STEP", "KUB_SNAPSHOT_SHA256", "KUB_NAME", "KUB_PEER_URL",
                                         "KUB_INITIAL_CLUSTER"))
UPGRADE_NODE = Script("upgrade-node.sh", required=("KUB_CLUSTER_ID", "KUB_STEP", "KUB_MINOR", "KUB_TARGET"))
DRAIN_NODE = Script("drain-node.sh", required=("KUB_CLUSTER_ID", "KUB_NODE", "KUB_ACTION", "KUB_DRAIN_TIMEOUT"))
RESET = Script("reset.sh", required=("KUB_CRI_SOCKET",), optional=("KUB_PURGE",))
WORKLOAD_APPLY = Script("workload-apply.sh", required=("KUB_KUBECONFIG", "KUB_NAMESPACE", "KUB_NAMESPACE_OBJECT"),
                        secret=("KUB_MANIFEST",), fixed=tuple(NO_CACHE.items()))
WORKLOAD_DELETE = Script("workload-delete.sh", required=("KUB_KUBECONFIG", "KUB_DELETES", "KUB_TIMEOUT"),
                         fixed=tuple(NO_CACHE.items()))
KUBECTL_CHANGE = Script("kubectl-change.sh", required=("KUB_KUBECONFIG", "KUB_ARGS"), secret=("KUB_STDIN",),
                        fixed=tuple(NO_CACHE.items()))

SCRIPTS = {script.name: script for script in (
    FACTS, ENDPOINT_CHECK, PREPARE_HOST, PACKAGES, CONTAINERD_RELEASE, CONTAINERD, API_BALANCER, INIT, JOIN,
    USER_KUBECONFIG, CNI, CNI_RECORD, CONTROL_PLANE_CERTS, ETCD_MEMBER, REMOVE_NODES, UPGRADE_NODE, DRAIN_NODE, RESET,
    WORKLOAD_APPLY, WORKLOAD_DELETE, KUBECTL_CHANGE, ETCD_TOOLS, BACKUP, RESTORE)}


def named(name):
    """The table's entry of the script whose file is `name`."""
    if name not in SCRIPTS:
        raise TypeError(f"kub has no script {name!r} (scripts: {', '.join(sorted(SCRIPTS))})")
    return SCRIPTS[name]


def keywords(env):
    """Variables by name ({"KUB_RECORD": ...}) as Script.call's keywords ({"record": ...})."""
    return {name[len(PREFIX):].lower(): value for name, value in env.items()}


def bound(script, env=None, secret_env=None):
    """A ScriptCall as it is; else the script (a Script, or its file's name) with these variables by name."""
    if isinstance(script, ScriptCall):
        if env or secret_env:
            raise TypeError(f"{script.name}: its variables are given once, in its call")
        return script
    return (script if isinstance(script, Script) else named(script)).bind(env, secret_env)
