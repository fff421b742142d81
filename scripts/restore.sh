#!/usr/bin/env bash
# One step of restoring the cluster's etcd from a snapshot on a master (kub uploaded it to KUB_DIR/restore/snapshot.db),
# as etcd's recovery guide and kubeadm's layout want it: every master's control plane stopped first, then each member
# restored from the same snapshot with its own name and the same member list, revisions bumped and marked compacted
# (watchers, the kubelet's and the controllers', then list again instead of missing or re-reading changes).
#   verify   the snapshot's sha256 is KUB_SNAPSHOT_SHA256 and etcdutl reads it (its status: `status=<json>`)
#   stop     the static pods' manifests (etcd, API server, controller manager, scheduler) moved aside: the kubelet
#            stops them; returns once etcd and the API server no longer listen
#   restore  /var/lib/etcd made anew from the snapshot (KUB_NAME, KUB_PEER_URL, KUB_INITIAL_CLUSTER); the data it
#            held is kept in KUB_DIR/restore/etcd-before until the next restore or the uninstall
#   start    the manifests put back: the kubelet starts the control plane on the restored data
# Steps done are noted in KUB_DIR/restore/done, so a run cut short goes on where it stopped.
# Env: KUB_STEP, KUB_SNAPSHOT_SHA256, KUB_NAME, KUB_PEER_URL, KUB_INITIAL_CLUSTER. Prints `changed: ...`
# (KUB_DRY_RUN=yes: `would: ...`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
umask 077
work=$KUB_DIR/restore
manifests=/etc/kubernetes/manifests
static=(etcd.yaml kube-apiserver.yaml kube-controller-manager.yaml kube-scheduler.yaml)
progress=$work/done
mark="$KUB_SNAPSHOT_SHA256 $KUB_STEP"

if grep -qxF "$mark" "$progress" 2>/dev/null; then exit 0; fi
done_step() { if ! dry_run; then echo "$mark" >> "$progress"; fi; }
listening() { awk 'FNR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 |
  grep -qxiE '094B|192B'; }   # 2379 (etcd) or 6443 (the API server), in hex

case "$KUB_STEP" in
  verify)
    [ -f "$work/snapshot.db" ] || fail "no snapshot at $work/snapshot.db: run the workflow again"
    [ "$(sha256sum < "$work/snapshot.db" | cut -d' ' -f1)" = "$KUB_SNAPSHOT_SHA256" ] ||
      fail "the snapshot here is not the archive's (its sha256 differs): run the workflow again"
    status=$("$KUB_DIR/etcd/etcdutl" snapshot status "$work/snapshot.db" -w json 2>&1) ||
      fail "the snapshot does not verify (etcdutl snapshot status: $(tail -n 1 <<< "$status"))"
    echo "status=$status"
    exit 0
    ;;
  stop)
    moved=()
    for file in "${static[@]}"; do
      if [ -e "$manifests/$file" ]; then
        act mkdir -p "$work/manifests"
        act mv -f "$manifests/$file" "$work/manifests/$file"
        moved+=("${file%.yaml}")
      fi
    done
    if ! dry_run; then
      for _ in $(seq 120); do listening || break; sleep 0.5; done
      ! listening || fail "etcd or the API server still listens 60 s after their manifests were moved aside"
    fi
    [ "${#moved[@]}" -eq 0 ] || changed "stopped $(listed "${moved[@]}") (their manifests moved to $work/manifests)"
    ;;
  restore)
    if ! dry_run; then
      rm -rf /var/lib/etcd.kub-restore
      out=$("$KUB_DIR/etcd/etcdutl" snapshot restore "$work/snapshot.db" --data-dir /var/lib/etcd.kub-restore \
        --name "$KUB_NAME" --initial-cluster "$KUB_INITIAL_CLUSTER" --initial-advertise-peer-urls "$KUB_PEER_URL" \
        --bump-revision 1000000000 --mark-compacted 2>&1) || fail "etcdutl snapshot restore failed: $(tail -n 1 <<< "$out")"
      rm -rf "$work/etcd-before"
      if [ -d /var/lib/etcd ]; then mv /var/lib/etcd "$work/etcd-before"; fi
      mv /var/lib/etcd.kub-restore /var/lib/etcd
    fi
    changed "restored etcd's data from the snapshot as member $KUB_NAME (the data it held kept in $work/etcd-before)"
    ;;
  start)
    started=()
    for file in "${static[@]}"; do
      if [ -e "$work/manifests/$file" ]; then
        act mv -f "$work/manifests/$file" "$manifests/$file"
        started+=("${file%.yaml}")
      fi
    done
    [ "${#started[@]}" -eq 0 ] || changed "started $(listed "${started[@]}") again"
    if ! dry_run; then rm -f "$progress" "$work/snapshot.db"; fi
    exit 0
    ;;
  *) fail "unknown step $KUB_STEP" ;;
esac
done_step
