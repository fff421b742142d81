#!/usr/bin/env bash
# Joins this host to a cluster. The configuration holds a token, so it arrives on stdin (KUB_JOIN_CONFIG) and
# reaches kubeadm in a root-only file that is removed afterwards: it never shows on a command line.
# Env: KUB_API_ENDPOINT, KUB_RESET_FIRST (yes: an earlier join of this cluster is stale), KUB_RECORD,
# KUB_CRI_SOCKET; secret: KUB_JOIN_CONFIG. KUB_DRY_RUN=yes: `would: ...` lines for the reset and the join.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
umask 077

[ "$KUB_RESET_FIRST" != yes ] || kubeadm_reset
if dry_run; then
  changed "joined the cluster at $KUB_API_ENDPOINT"
  exit 0
fi
# kubeadm's output is kept for a look only when the join fails
log=$KUB_DIR/join.log
if ! with_secret_file "$KUB_JOIN_CONFIG" kubeadm join --config {} >"$log" 2>&1; then
  grep -E '\[ERROR|error execution phase|couldn.t|unable to|timed out' "$log" | head -n 3 >&2
  exit 1
fi
rm -f "$log"
printf '%s\n' "$KUB_RECORD" > "$KUB_RECORD_FILE"   # kub's own note of what it did
changed "joined the cluster at $KUB_API_ENDPOINT"
