#!/usr/bin/env bash
# Records, with their sha256, the CNI config files the cluster's CNI wrote in /etc/cni/net.d (run once the node
# is Ready): those that were not there before kub's first change (KUB_CNI_BEFORE). An uninstall removes only
# these, and only while they still hold what was recorded. Idempotent: prints `changed: ...` per change.
# KUB_DRY_RUN=yes: `would: ...` lines for what is there now (no wait).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

new_files() {  # the files in /etc/cni/net.d that were not there before kub
  local file
  for file in /etc/cni/net.d/*; do
    if [ -f "$file" ] && ! grep -qF "  $file" "$KUB_CNI_BEFORE" 2>/dev/null; then
      echo "$file"
    fi
  done
}
# containerd reports the network ready with any config, so where the host has one of its own the node can be
# Ready before the cluster's CNI wrote its config: wait for that a while
for _ in $(dry_run || seq 1 120); do
  [ -z "$(new_files)" ] || break
  sleep 0.5
done
if [ -z "$(new_files)" ] && dry_run; then
  [ -s "$KUB_CNI_FILES" ] ||
    changed "recorded the config the cluster's CNI writes in /etc/cni/net.d (once its node is Ready)"
elif [ -z "$(new_files)" ]; then
  echo "note: the cluster's CNI wrote no config in /etc/cni/net.d within 60 s: none recorded (uninstall leaves what it writes later)"
fi
while IFS= read -r file; do
  [ -n "$file" ] && [ -z "$(owned_sum "$KUB_CNI_FILES" "$file")" ] || continue
  own_file "$KUB_CNI_FILES" "$file"
  changed "recorded $file as the cluster's CNI config"
done <<< "$(new_files)"
