#!/usr/bin/env bash
# kub's load balancer of the cluster's API on a master: haproxy (forwarding the endpoint's port to every master's API
# server) and keepalived (holding the virtual IP), as kub's own units with kub's own configuration under
# KUB_API_BALANCER_DIR; a haproxy or keepalived of the host's own is left alone. The packages come from packages.sh.
# Env: KUB_HAPROXY_CONFIG, KUB_KEEPALIVED_CONFIG, KUB_CHECK_SCRIPT, KUB_HAPROXY_UNIT, KUB_KEEPALIVED_UNIT (contents).
# Idempotent: writes what differs, reloads a service whose files changed, starts one that is down; prints
# `changed: ...` per change (KUB_DRY_RUN=yes: `would: ...`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

changed_files=()
write() {  # write PATH CONTENT MODE: kub's file, written where it differs (and noted in changed_files)
  local wanted
  wanted=$(printf '%s\n' "$(printf '%s' "$2")" | sha256sum | cut -d' ' -f1)
  [ "$(file_sum "$1" 2>/dev/null || true)" = "$wanted" ] || changed_files+=("$1")
  ensure_owned_file "$KUB_OWNED_FILES" "$1" "$2" "$3"
}
write "$KUB_API_BALANCER_DIR/api-check.sh" "$KUB_CHECK_SCRIPT" 0755
write "$KUB_API_BALANCER_DIR/api-haproxy.cfg" "$KUB_HAPROXY_CONFIG" 0644
write "$KUB_API_BALANCER_DIR/api-keepalived.conf" "$KUB_KEEPALIVED_CONFIG" 0644
write "$KUB_API_HAPROXY_UNIT" "$KUB_HAPROXY_UNIT" 0644
write "$KUB_API_KEEPALIVED_UNIT" "$KUB_KEEPALIVED_UNIT" 0644
[ "${#changed_files[@]}" -eq 0 ] || act systemctl daemon-reload

touched() {  # touched WORD: a file whose path holds WORD changed
  [ "${#changed_files[@]}" -gt 0 ] && printf '%s\n' "${changed_files[@]}" | grep -qF "$1"
}
for service in haproxy keepalived; do
  unit=kub-api-$service
  if ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
    act systemctl enable --quiet "$unit"
    changed "enabled $unit"
  fi
  if ! systemctl is-active --quiet "$unit"; then
    act systemctl start "$unit"
    changed "started $unit"
  elif touched "$service" || { [ "$service" = keepalived ] && touched api-check; }; then
    act systemctl reload-or-restart "$unit"
    changed "reloaded $unit with its new configuration"
  fi
done
