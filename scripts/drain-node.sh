#!/usr/bin/env bash
# On the master: cordons and drains one node (PodDisruptionBudgets honoured: eviction), or uncordons it; only
# while this host is the initialised control plane of the cluster whose id is KUB_CLUSTER_ID.
# Env: KUB_CLUSTER_ID, KUB_NODE, KUB_ACTION (drain | uncordon), KUB_DRAIN_TIMEOUT (seconds). A drain that fails
# uncordons the node again (it keeps taking pods) and fails naming it. Idempotent: prints `changed: ...`
# (KUB_DRY_RUN=yes: the drain with --dry-run=server, `would: ...` lines).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kubectl=(kubectl --kubeconfig /etc/kubernetes/admin.conf)

if [ ! -e /etc/kubernetes/admin.conf ] || [ ! -s "$KUB_RECORD_FILE" ] || ! marked_ours; then
  fail "not the control plane of this deployment's cluster (owner: $(owner_name))"
fi
unschedulable=$("${kubectl[@]}" get node "$KUB_NODE" -o jsonpath='{.spec.unschedulable}' 2>&1) ||
  fail "reading node $KUB_NODE failed: $(kubectl_error "$unschedulable")"
case "$KUB_ACTION" in
  drain)
    server_dry_run=()
    if dry_run; then server_dry_run=(--dry-run=server); fi
    out=$("${kubectl[@]}" drain "$KUB_NODE" --ignore-daemonsets --delete-emptydir-data --force \
      --timeout="${KUB_DRAIN_TIMEOUT}s" "${server_dry_run[@]}" 2>&1) || {
      act "${kubectl[@]}" uncordon "$KUB_NODE" >/dev/null 2>&1 ||
        echo "note: node $KUB_NODE stays cordoned (uncordon failed): kubectl uncordon $KUB_NODE"
      fail "draining node $KUB_NODE failed: $(kubectl_error "$out")"
    }
    changed "drained node $KUB_NODE"
    ;;
  uncordon)
    if [ "$unschedulable" = true ]; then
      out=$(act "${kubectl[@]}" uncordon "$KUB_NODE" 2>&1) || fail "uncordoning node $KUB_NODE failed: $(kubectl_error "$out")"
      changed "uncordoned node $KUB_NODE"
    fi
    ;;
  *) fail "unknown action $KUB_ACTION" ;;
esac
