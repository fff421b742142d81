#!/usr/bin/env bash
# Records, with their sha256, the CNI config files the cluster's CNI wrote in /etc/cni/net.d (run once the node
# is Ready): those that were not there before kub's first change (KUB_CNI_BEFORE). An uninstall removes only
# these, and only while they still hold what was recorded. Idempotent: prints `changed: ...` per change.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for file in /etc/cni/net.d/*; do
  [ -f "$file" ] || continue
  if grep -qF "  $file" "$KUB_CNI_BEFORE" 2>/dev/null || [ -n "$(owned_sum "$KUB_CNI_FILES" "$file")" ]; then
    continue
  fi
  own_file "$KUB_CNI_FILES" "$file"
  changed "recorded $file as the cluster's CNI config"
done
