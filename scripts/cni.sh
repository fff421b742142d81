#!/usr/bin/env bash
# Writes the CNI manifest kub uploaded (KUB_MANIFEST) where kub keeps it, and applies it with the admin
# kubeconfig. Idempotent: prints `changed: ...` for each object kubectl created or configured.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_file "$KUB_CNI_MANIFEST" "$KUB_MANIFEST" 0600
out=$(kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f "$KUB_CNI_MANIFEST" 2>&1) ||
  fail "kubectl apply of the CNI manifest failed: $(tail -n 1 <<< "$out")"
while read -r line; do
  case "$line" in
    ""|*" unchanged") ;;
    *) changed "$line" ;;
  esac
done <<< "$out"
