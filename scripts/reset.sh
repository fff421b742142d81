#!/usr/bin/env bash
# Undoes what kub set up on a host of its cluster: kubeadm reset, CNI config, kub's kubeconfig for the SSH user,
# Kubernetes iptables chains, kub's files; with KUB_PURGE=yes also the packages and containerd.
# Env: KUB_PURGE (yes|no), KUB_CRI_SOCKET, KUB_OS_PACKAGES. Idempotent.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export DEBIAN_FRONTEND=noninteractive

kubeadm_reset
if systemctl is-active --quiet kubelet; then
  systemctl stop kubelet
  changed "stopped kubelet"
fi

user_kubeconfig=$(cat "$KUB_DIR/user-kubeconfig" 2>/dev/null || true)
remove_paths /etc/cni/net.d/* ${user_kubeconfig:+"$user_kubeconfig"} /etc/modules-load.d/k8s.conf \
  /etc/sysctl.d/k8s.conf

# kube-proxy and CNI plugins leave chains named KUBE-*, CNI-*, FLANNEL*: drop those and the rules that use
# them, keep the rest of the host's firewall.
for save in iptables-save ip6tables-save; do
  command -v "$save" >/dev/null || continue
  restore=${save%-save}-restore
  if "$save" | grep -Eq 'KUBE-|CNI-|FLANNEL'; then
    "$save" | grep -Ev 'KUBE-|CNI-|FLANNEL' | "$restore"
    changed "removed Kubernetes chains from ${save%-save}"
  fi
done

if [ "${KUB_PURGE:-no}" = yes ]; then
  # shellcheck disable=SC2086  # one word per package
  # (dpkg-query fails when one of them is not there at all, as the OS's containerd may not be)
  installed=$({ dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $KUB_PACKAGES $KUB_DEPENDENCIES \
    ${KUB_OS_PACKAGES:-} 2>/dev/null || true; } | awk '$2 ~ /^.i/ { print $1 }')
  if [ -n "$installed" ]; then
    # shellcheck disable=SC2086
    apt-mark unhold $installed >/dev/null
    # shellcheck disable=SC2086
    apt-get -q -y -o DPkg::Lock::Timeout=300 purge $installed >/dev/null
    changed "purged $(tr '\n' ' ' <<< "$installed")"
  fi
  # containerd from its release: the files kub listed when it installed them
  if [ -r "$KUB_CONTAINERD_FILES" ]; then
    systemctl disable --now --quiet containerd 2>/dev/null || true
    mapfile -t files < "$KUB_CONTAINERD_FILES"
    remove_paths "${files[@]}"
    systemctl daemon-reload
  fi
  remove_paths /etc/apt/sources.list.d/kubernetes.list /etc/apt/keyrings/kubernetes-apt-keyring.asc \
    /etc/containerd /etc/kubernetes /var/lib/kubelet
fi
# last: the owner mark goes with the rest of kub's files
remove_paths "$KUB_DIR"
