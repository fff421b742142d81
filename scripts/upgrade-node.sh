#!/usr/bin/env bash
# One step of a node's hop to the next Kubernetes minor (kubeadm's documented order), only on a host that carries
# the mark of the cluster whose id is KUB_CLUSTER_ID and that kub initialised or joined. The packages themselves
# come from packages.sh (repository switched, versions held). Steps (KUB_STEP):
#   check    changes nothing: the host is this cluster's (run under the lock, so a busy host is found first)
#   apply    on the master: `kubeadm upgrade apply KUB_TARGET -y`, unless the API server already runs it
#   node     on a minion: `kubeadm upgrade node` (its kubelet configuration of the cluster)
#   restart  the kubelet restarted on its new package
#   record   the hop is finished: kubernetes_version=KUB_MINOR in kub's record (cluster.env), read by later runs
# A step done is written to $KUB_DIR/upgrade-KUB_MINOR, so a re-run after a failure skips it; a host whose record
# already says KUB_MINOR does nothing. Env: KUB_CLUSTER_ID, KUB_STEP, KUB_MINOR, KUB_TARGET (vX.Y.Z).
# Idempotent: prints `changed: ...` per change (KUB_DRY_RUN=yes: `would: ...`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
progress=$KUB_DIR/upgrade-$KUB_MINOR
log=/var/log/kub-upgrade.log

if [ ! -s "$KUB_RECORD_FILE" ] || ! marked_ours; then
  fail "not a host of this deployment's cluster (owner: $(owner_name)): left as it is"
fi
recorded=$(sed -n 's/^kubernetes_version=//p' "$KUB_RECORD_FILE")
if [ "$recorded" = "$KUB_MINOR" ] || [ "$KUB_STEP" = check ]; then
  exit 0
fi
if grep -qxF "$KUB_STEP" "$progress" 2>/dev/null; then
  exit 0
fi
done_step() { if ! dry_run; then mkdir -p "$KUB_DIR" && echo "$KUB_STEP" >> "$progress"; fi; }

case "$KUB_STEP" in
  apply)
    running=$(kubectl --kubeconfig /etc/kubernetes/admin.conf version -o json 2>/dev/null |
      sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | tail -n 1)
    if [ "$running" != "$KUB_TARGET" ]; then
      if ! dry_run; then
        kubeadm upgrade apply "$KUB_TARGET" -y >"$log" 2>&1 ||
          fail "kubeadm upgrade apply $KUB_TARGET failed: $(grep -v '^To see the stack trace' "$log" | grep . | tail -n 3 | paste -sd ' ')"
      fi
      changed "kubeadm upgrade apply $KUB_TARGET"
    fi
    ;;
  node)
    if ! dry_run; then
      kubeadm upgrade node >"$log" 2>&1 ||
        fail "kubeadm upgrade node failed: $(grep -v '^To see the stack trace' "$log" | grep . | tail -n 1)"
    fi
    changed "kubeadm upgrade node (kubelet configuration of $KUB_TARGET)"
    ;;
  restart)
    act systemctl daemon-reload
    act systemctl restart kubelet
    changed "restarted the kubelet ($(kubelet --version 2>/dev/null || echo '?'))"
    ;;
  record)
    if ! dry_run; then
      sed -i "s/^kubernetes_version=.*/kubernetes_version=$KUB_MINOR/" "$KUB_RECORD_FILE"
      rm -f "$progress"
    fi
    changed "recorded kubernetes_version=$KUB_MINOR in $KUB_RECORD_FILE"
    exit 0
    ;;
  *) fail "unknown step $KUB_STEP" ;;
esac
done_step
