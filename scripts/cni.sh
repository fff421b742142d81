#!/usr/bin/env bash
# Writes the CNI manifest kub uploaded (KUB_MANIFEST) where kub keeps it, and applies it with the admin
# kubeconfig. Idempotent: prints `changed: ...` for each object kubectl created or configured. KUB_DRY_RUN=yes:
# `would: ...` lines from `kubectl apply --dry-run=server` (one line where there is no cluster yet to ask).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_file "$KUB_CNI_MANIFEST" "$KUB_MANIFEST" 0600
if dry_run; then
  if [ ! -e /etc/kubernetes/admin.conf ]; then
    changed "applied the CNI manifest (kubectl apply, once kubeadm init made the cluster)"
    exit 0
  fi
  # the manifest as kub sent it: the file above is not written in a dry run
  out=$(printf '%s\n' "$KUB_MANIFEST" |
    kubectl --kubeconfig /etc/kubernetes/admin.conf apply --dry-run=server -f - 2>&1) ||
    fail "kubectl apply of the CNI manifest failed: $(tail -n 1 <<< "$out")"
else
  out=$(kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f "$KUB_CNI_MANIFEST" 2>&1) ||
    fail "kubectl apply of the CNI manifest failed: $(tail -n 1 <<< "$out")"
fi
kubectl_changes "$out"
