"""A host leaves: kubeadm reset and the cleanup of what kub recorded as its own (reset.sh)."""
from ..hosts import scripts, state
from ..hosts.runner import apply


def reset(host, settings, purge):
    """kubeadm reset and the cleanup of what kub recorded as its own; with `purge`, the packages it installed too."""
    apply(host, "reset", scripts.RESET.call(purge="yes" if purge else "no", cri_socket=settings.cri_socket),
          timeout=600, lock_wait=state.RESET_LOCK_WAIT_SECONDS)
