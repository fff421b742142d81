"""A host leaves: kubeadm reset and the cleanup of what kub recorded as its own (reset.sh)."""
from ..hosts import state
from ..hosts.runner import apply


def reset(host, settings, profile, purge):
    apply(host, "reset", "reset.sh", timeout=600, lock_wait=state.RESET_LOCK_WAIT_SECONDS,
          env={"KUB_PURGE": "yes" if purge else "no", "KUB_CRI_SOCKET": settings.cri_socket,
               "KUB_OS_PACKAGES": profile["containerd_package"]})
