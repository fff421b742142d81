#!/usr/bin/env bash
# Joins this host to a cluster. The configuration holds a token, so it arrives on stdin (KUB_JOIN_CONFIG) and
# reaches kubeadm in a root-only file that is removed afterwards: it never shows on a command line.
# Env: KUB_API_ENDPOINT, KUB_RESET_FIRST (yes: an earlier join of this cluster is stale), KUB_RECORD,
# KUB_CRI_SOCKET, KUB_CONTROL_PLANE (yes: a master joining the control plane; then its etcd member must report
# healthy); secret: KUB_JOIN_CONFIG. KUB_DRY_RUN=yes: `would: ...` lines for the reset and the join.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
umask 077

what="joined the cluster at $KUB_API_ENDPOINT"
[ "${KUB_CONTROL_PLANE:-no}" != yes ] || what="joined the control plane at $KUB_API_ENDPOINT (its etcd member healthy)"
[ "$KUB_RESET_FIRST" != yes ] || kubeadm_reset
if dry_run; then
  changed "$what"
  exit 0
fi
# kubeadm's output is kept for a look only when the join fails
log=$KUB_DIR/join.log
if ! with_secret_file "$KUB_JOIN_CONFIG" kubeadm join --config {} >"$log" 2>&1; then
  grep -E '\[ERROR|error execution phase|couldn.t|unable to|timed out' "$log" | head -n 3 >&2
  exit 1
fi
rm -f "$log"
etcd_health() {  # etcd's own health answer on its metrics port (http://127.0.0.1:2381, as kubeadm sets it up)
  timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/2381 && printf "GET /health HTTP/1.0\r\n\r\n" >&3 && cat <&3' \
    2>/dev/null | tail -n 1
}
if [ "${KUB_CONTROL_PLANE:-no}" = yes ]; then
  for _ in $(seq 120); do
    [[ "$(etcd_health)" != *'"health":"true"'* ]] || break
    sleep 1
  done
  [[ "$(etcd_health)" == *'"health":"true"'* ]] ||
    fail "the new etcd member does not report healthy after 120 s ($(etcd_health)): see journalctl and /var/lib/etcd here, then run again"
fi
printf '%s\n' "$KUB_RECORD" > "$KUB_RECORD_FILE"   # kub's own note of what it did
changed "$what"
