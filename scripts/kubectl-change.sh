#!/usr/bin/env bash
# On a control-plane host: one kubectl command that changes the cluster, for a kub_* workflow. Env:
# KUB_KUBECONFIG; KUB_ARGS, kubectl's arguments one a line (kub checked them); KUB_STDIN, what kubectl reads
# on its standard input (a manifest, possibly with Secrets: it never reaches a command line), or empty.
# Prints `changed: ...` for each object kubectl changed, a note for each it found unchanged; when kubectl fails
# part way, what it did before, then its error line for each object it refused. KUB_DRY_RUN=yes: kubectl's
# --dry-run=server, `would: ...` lines.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mapfile -t args <<< "$KUB_ARGS"
if dry_run; then args+=(--dry-run=server); fi

out=$(printf '%s' "${KUB_STDIN:-}" | kubectl --kubeconfig "$KUB_KUBECONFIG" "${args[@]}" 2>&1) ||
  kubectl_failed "$out"
kubectl_changes "$out" unchanged
