#!/usr/bin/env bash
# The control-plane certificates another master needs to join, on a master of the cluster: KUB_ACTION=upload puts them
# in the cluster's kubeadm-certs Secret, encrypted with KUB_CERTIFICATE_KEY (a secret: it arrives on stdin and
# kubeadm's output, which repeats it, is not kept); KUB_ACTION=delete removes that Secret once the joins are done.
# Env: KUB_ACTION; secret: KUB_CERTIFICATE_KEY (upload). Prints `changed: ...` (KUB_DRY_RUN=yes: `would: ...`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kubectl=(kubectl --kubeconfig /etc/kubernetes/admin.conf)

case "$KUB_ACTION" in
  upload)
    if ! dry_run; then
      out=$(kubeadm init phase upload-certs --upload-certs --certificate-key "$KUB_CERTIFICATE_KEY" 2>&1) ||
        fail "kubeadm could not upload the control-plane certificates: $(grep -v "$KUB_CERTIFICATE_KEY" <<< "$out" | grep . | tail -n 1)"
    fi
    changed "uploaded the control-plane certificates for the joining masters (kube-system/kubeadm-certs, encrypted)"
    ;;
  delete)
    if "${kubectl[@]}" -n kube-system get secret kubeadm-certs >/dev/null 2>&1; then
      act "${kubectl[@]}" -n kube-system delete secret kubeadm-certs >/dev/null
      changed "removed the uploaded control-plane certificates (kube-system/kubeadm-certs)"
    fi
    ;;
  *) fail "unknown action $KUB_ACTION" ;;
esac
