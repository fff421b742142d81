#!/usr/bin/env bash
# On the master: drains and deletes the given nodes, each only if it is registered at the given address, and
# only while this host is the initialised control plane of the cluster whose id is KUB_CLUSTER_ID. Runs under
# the host's kub lock, so it never overlaps a reset of the master (uninstall runs both at once).
# Env: KUB_CLUSTER_ID, KUB_NODES (name=address ...), KUB_DRAIN_TIMEOUT (seconds per node), KUB_FORCE_DRAIN (yes:
# pods are deleted without eviction, so PodDisruptionBudgets do not hold the drain). Idempotent: prints
# `changed: ...` per node removed. KUB_DRY_RUN=yes: drain and delete with --dry-run=server, `would: ...` lines.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kubectl=(kubectl --kubeconfig /etc/kubernetes/admin.conf)

# this cluster's control plane: marked with its id, and initialised (admin.conf and kub's record, init.sh's last)
if [ ! -e /etc/kubernetes/admin.conf ] || [ ! -s "$KUB_RECORD_FILE" ] || ! marked_ours; then
  echo "note: not (or no longer) the control plane of this deployment's cluster: its nodes are left as they are"
  exit 0
fi
drain=(--ignore-daemonsets --delete-emptydir-data --force --timeout="${KUB_DRAIN_TIMEOUT}s")
if [ "$KUB_FORCE_DRAIN" = yes ]; then
  drain+=(--disable-eviction)
fi
server_dry_run=()
if dry_run; then server_dry_run=(--dry-run=server); fi
for item in $KUB_NODES; do
  name=${item%%=*} address=${item#*=}
  found=$("${kubectl[@]}" get node "$name" --ignore-not-found \
    -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}' 2>&1) || {
    # a half-dead cluster: the hosts are reset all the same, and the master's own reset takes the nodes with it
    echo "note: the API server does not answer ($(kubectl_error "$found")): nodes not drained, left registered" \
      "until the master is reset"
    exit 0
  }
  if [ -z "$found" ]; then
    continue
  elif [ "$found" != "$address" ]; then
    echo "note: node $name is at $found, not at this node's $address: left as it is"
    continue
  fi
  out=$("${kubectl[@]}" drain "$name" "${drain[@]}" "${server_dry_run[@]}" 2>&1) || {
    # the node takes pods again, as before: the cluster keeps working until a re-run drains it
    uncordoned=no
    for try in 1 2 3; do
      if act "${kubectl[@]}" uncordon "$name" >/dev/null 2>&1; then uncordoned=yes; break; fi
      [ "$try" = 3 ] || sleep 2
    done
    [ "$uncordoned" = yes ] || echo "note: node $name stays cordoned (uncordon failed): kubectl uncordon $name"
    fail "draining node $name failed: $(kubectl_error "$out")"
  }
  out=$("${kubectl[@]}" delete node "$name" --ignore-not-found "${server_dry_run[@]}" 2>&1) ||
    fail "deleting node $name failed: $(kubectl_error "$out")"
  changed "drained and deleted node $name"
done
