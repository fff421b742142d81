#!/usr/bin/env bash
# kubeadm init from kub's configuration, then removes the bootstrap token init made (joins get fresh ones) and
# records the settings the cluster was made with. The configuration holds that token, so it arrives on stdin
# (KUB_INIT_CONFIG) and reaches kubeadm in a root-only file that is removed afterwards.
# Env: KUB_INIT_TOKEN_ID, KUB_RECORD, KUB_CRI_SOCKET, KUB_CLUSTER_ID; secret: KUB_INIT_CONFIG.
# KUB_DRY_RUN=yes: `would: ...` lines for the reset and the init (what kubeadm would do is its own to know).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
umask 077

# initialised: kubeadm's admin.conf and kub's record, which this script writes last
if [ -e /etc/kubernetes/admin.conf ] && [ -s "$KUB_RECORD_FILE" ]; then exit 0; fi
# (a dry run before the host is marked: the install's first step marks it)
marked_ours || { dry_run && [ -z "$(owner_id)" ]; } ||
  fail "the host is not marked as this cluster's ($KUB_OWNER_FILE): run install again, whose configure marks it"
# an init of this cluster that failed half way (kubeadm writes admin.conf before its control plane is up, and the
# token's removal may fail after it) leaves its state behind: start over
kubeadm_reset
if dry_run; then
  changed "kubeadm init (its bootstrap token removed)"
  exit 0
fi
log=$KUB_DIR/init.log
if ! with_secret_file "$KUB_INIT_CONFIG" kubeadm init --config {} --skip-token-print >"$log" 2>&1; then
  why=$(grep -E '\[ERROR|error execution phase|couldn.t|unable to|timed out' "$log" | head -n 3 | tail -n 1 |
    sed 's/^[[:space:]]*//')
  fail "${why:-kubeadm init exited with an error} (kubeadm's output: $log): fix that, then run install again, \
which starts this init over"
fi
rm -f "$log"
kubeadm token delete "$KUB_INIT_TOKEN_ID" >/dev/null 2>&1 || fail "could not delete kubeadm init's bootstrap token"
printf '%s\n' "$KUB_RECORD" > "$KUB_RECORD_FILE"   # kub's own note of what it did
changed "kubeadm init (its bootstrap token removed)"
