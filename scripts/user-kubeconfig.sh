#!/usr/bin/env bash
# Gives the SSH user kubectl access: a copy of admin.conf, owned by that user, mode 0600. It goes to
# ~/.kube/config unless the user has a kubeconfig of their own there (one kub did not write, or one the user
# changed since): that one is kept, kub's goes beside it. Recorded with its sha256, for uninstall.
# Env: KUB_USER. Idempotent: prints `changed: ...` per change (KUB_DRY_RUN=yes: `would: ...`), `note: ...` for the user.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

home=$(getent passwd "$KUB_USER" | cut -d: -f6)
group=$(id -gn "$KUB_USER")
config=$home/.kube/config
if [ -e "$config" ] && ! owned_unchanged "$KUB_OWNED_FILES" "$config"; then
  config=$home/.kube/kub-admin.conf
  echo "note: kept $KUB_USER's own $home/.kube/config; kub's kubeconfig is $config (KUBECONFIG=$config kubectl ...)"
fi
if [ ! -f "$config" ] || ! cmp -s /etc/kubernetes/admin.conf "$config"; then
  act install -d -m 0700 -o "$KUB_USER" -g "$group" "$home/.kube"
  act install -m 0600 -o "$KUB_USER" -g "$group" /etc/kubernetes/admin.conf "$config"
  changed "wrote $config"
fi
owned_unchanged "$KUB_OWNED_FILES" "$config" || own_file "$KUB_OWNED_FILES" "$config"
