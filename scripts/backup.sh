#!/usr/bin/env bash
# A backup of the cluster on a master: KUB_ACTION=take writes KUB_DIR/backup/backup.tar (0600, in a 0700 folder): a
# snapshot of etcd taken from this master's member with etcd's own etcdctl (KUB_DIR/etcd), verified with etcdutl
# (its status in status.json beside it), and the keys a restore onto new hosts needs (the cluster's CA, the
# service-account keys, the front-proxy CA, etcd's CA); the archive's sha256 in backup.sha256. KUB_ACTION=clean
# removes them once kub has read them. The keys never leave that file but to the machine running cfy.
# Env: KUB_ACTION. Prints `changed: ...` (KUB_DRY_RUN=yes: `would: ...`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
umask 077
work=$KUB_DIR/backup
pki=/etc/kubernetes/pki
keys=(ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key)

case "$KUB_ACTION" in
  take)
    if dry_run; then
      changed "took a snapshot of etcd and the cluster's keys"
      exit 0
    fi
    rm -rf "$work"
    mkdir -p "$work/pki/etcd"   # 0700 (umask)
    out=$(ETCDCTL_API=3 "$KUB_DIR/etcd/etcdctl" --endpoints https://127.0.0.1:2379 --cacert "$pki/etcd/ca.crt" \
      --cert "$pki/apiserver-etcd-client.crt" --key "$pki/apiserver-etcd-client.key" --command-timeout 60s \
      snapshot save "$work/snapshot.db" 2>&1) || fail "etcdctl snapshot save failed: $(tail -n 1 <<< "$out")"
    status=$("$KUB_DIR/etcd/etcdutl" snapshot status "$work/snapshot.db" -w json 2>&1) ||
      fail "the snapshot does not verify (etcdutl snapshot status: $(tail -n 1 <<< "$status"))"
    for key in "${keys[@]}"; do cp -p "$pki/$key" "$work/pki/$key"; done
    tar -C "$work" -cf "$work/backup.tar" snapshot.db pki
    printf '%s\n' "$status" > "$work/status.json"
    sha256sum < "$work/backup.tar" | cut -d' ' -f1 > "$work/backup.sha256"
    changed "took a snapshot of etcd and the cluster's keys"
    ;;
  clean)
    if [ -e "$work" ]; then
      act rm -rf "$work"
      changed "removed the backup's files from $work"
    fi
    ;;
  *) fail "unknown action $KUB_ACTION" ;;
esac
