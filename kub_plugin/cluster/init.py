"""The master's phase: kubeadm init, the CNI, the kubeconfigs."""
from ..hosts import scripts, state
from ..hosts.commands import Command
from ..hosts.runner import StepError, apply, ok_or_raise
from . import kubeadm


def init_master(host, facts, settings, cluster_id, api_address=""):
    """kubeadm init, once. Initialised means kub's record there, which init.sh writes last: a host this deployment
    initialised is left as it is. kubeadm writes admin.conf before its control plane is up, so an admin.conf
    without the record (on a host marked as this cluster's: checks.host refuses others) is an init that failed
    half way, or whose token removal failed: init.sh resets the host and initialises it again."""
    if facts.initialised:
        if host.plan is None:
            host.log("kubeadm init: already initialised by this deployment, no change")
        return False
    variables = {"record": kubeadm.record(settings), "cri_socket": settings.cri_socket, "cluster_id": cluster_id}
    if host.plan is not None:
        # init.sh tells what it would do: no token is made and no configuration sent, kubeadm may not be there yet
        apply(host, "kubeadm init", scripts.INIT.call(**variables, init_token_id="", init_config=""), timeout=120)
        return True
    if facts.has_admin_conf:
        host.log(f"kubeadm init: {state.ADMIN_CONF} is there without kub's record of a finished init (an earlier "
                 f"init failed half way): resetting this host and initialising it again")
    version = host.run(Command("kubeadm", "version", "-o", "short"), sudo=True).stdout.strip()
    if not version.startswith("v"):
        raise StepError(f"{host.ip}: kubeadm does not answer `kubeadm version`: run install again to "
                        f"reinstall the Kubernetes packages")
    token = kubeadm.new_token()
    config = kubeadm.init_configuration(settings, host.ip, facts.node_name, version, token, facts.cgroup_v1,
                                        api_address)
    apply(host, "kubeadm init",
          scripts.INIT.call(**variables, init_token_id=kubeadm.token_id(token), init_config=config),
          timeout=900, secrets=(token,))
    host.log(f"kubeadm init: Kubernetes {version}, API at {api_address or kubeadm.host_port(host.ip)}")
    return True


def user_kubeconfig(host):
    """A kubeconfig for the SSH user (root included), so kubectl works after logging in."""
    apply(host, "kubeconfig for " + host.settings.user, scripts.USER_KUBECONFIG.call(user=host.settings.user),
          timeout=60)


def apply_cni(host, manifest):
    """Uploads the CNI manifest (the master may have no internet) and applies it."""
    apply(host, "CNI", scripts.CNI.call(manifest=manifest), timeout=300)


def record_cni(host):
    """Records the CNI config the cluster's CNI wrote on a host, once its node is Ready (for uninstall)."""
    apply(host, "CNI config files", scripts.CNI_RECORD, timeout=60)


def read_admin_kubeconfig(host):
    """The admin kubeconfig text (a secret: never log it)."""
    return ok_or_raise(host, host.run(Command("cat", state.ADMIN_CONF), sudo=True, timeout=60),
                       f"reading {state.ADMIN_CONF}").stdout
