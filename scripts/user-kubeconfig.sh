#!/usr/bin/env bash
# Gives the SSH user kubectl access: a copy of admin.conf as ~/.kube/config, owned by that user, mode 0600.
# Env: KUB_USER. Idempotent: prints `changed: ...` per change.
set -euo pipefail
home=$(getent passwd "$KUB_USER" | cut -d: -f6)
config="$home/.kube/config"
if [ ! -f "$config" ] || ! cmp -s /etc/kubernetes/admin.conf "$config"; then
  install -d -m 0700 -o "$KUB_USER" -g "$(id -gn "$KUB_USER")" "$home/.kube"
  install -m 0600 -o "$KUB_USER" -g "$(id -gn "$KUB_USER")" /etc/kubernetes/admin.conf "$config"
  echo "changed: wrote $config"
fi
install -d -m 0700 /var/lib/kub
printf '%s\n' "$config" > /var/lib/kub/user-kubeconfig
