#!/usr/bin/env bash
# Marks the host as this cluster's (before any other change), then kernel modules, sysctls and swap as
# kubeadm needs them. Env: KUB_CLUSTER_ID, KUB_OWNER (the mark: `<cluster id> <deployment>/<master node>`).
# Idempotent: prints `changed: ...` per change (KUB_DRY_RUN=yes: `would: ...`, and changes nothing).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Checked again here, under the host's lock: another deployment may have marked the host, or a cluster come,
# since this run's create looked.
owner=$(owner_id)
if [ -n "$owner" ] && [ "$owner" != "$KUB_CLUSTER_ID" ]; then
  fail "belongs to another kub cluster ($(owner_name)), marked since this \
run checked the host: use another host, or uninstall that deployment first"
fi
if [ -z "$owner" ] && compgen -G '/etc/kubernetes/*.conf' >/dev/null; then
  fail "already belongs to a Kubernetes cluster this deployment did not make (/etc/kubernetes holds its config): \
use another host, or run \`kubeadm reset -f\` there first if that cluster may go"
fi
ensure_file "$KUB_OWNER_FILE" "$KUB_OWNER" 0600

# what /etc/cni/net.d holds before kub's first change: the host's own (podman's, a user's), never removed
if [ ! -e "$KUB_CNI_BEFORE" ] && ! dry_run; then
  find /etc/cni/net.d -maxdepth 1 -type f -exec sha256sum {} + 2>/dev/null > "$KUB_CNI_BEFORE" || true
fi

# kub's kernel settings; a host's own file of the same name is kept beside it and put back at uninstall
ensure_owned_file "$KUB_OWNED_FILES" /etc/modules-load.d/k8s.conf "$(printf 'overlay\nbr_netfilter')"
module_loaded() {  # loaded as a module, or built into the kernel
  [ -d "/sys/module/$1" ] || grep -q "/$1.ko" "/lib/modules/$(uname -r)/modules.builtin" 2>/dev/null
}
for module in overlay br_netfilter; do
  if ! module_loaded "$module"; then
    act modprobe "$module"
    changed "loaded module $module"
  fi
done

sysctls="net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1"
ensure_owned_file "$KUB_OWNED_FILES" /etc/sysctl.d/k8s.conf "$sysctls"
while IFS=' =' read -r key value; do
  if [ "$(sysctl -n "$key")" != "$value" ]; then
    act sysctl -qw "$key=$value"
    changed "set $key=$value"
  fi
done <<< "$sysctls"

if [ "$(tail -n +2 /proc/swaps | wc -l)" -gt 0 ]; then
  act swapoff -a
  changed "turned swap off"
fi
# keep it off after a reboot: comment out swap entries in fstab
if grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab 2>/dev/null; then
  act sed -i -E 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# disabled by kub: \1/' /etc/fstab
  changed "commented out swap in /etc/fstab"
fi
