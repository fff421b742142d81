#!/usr/bin/env bash
# Undoes what kub set up on a host: kubeadm reset, CNI config, kubeconfigs, Kubernetes iptables chains,
# kub's files; with KUB_PURGE=yes also the packages and containerd.
# Env: KUB_PURGE (yes|no), KUB_CRI_SOCKET, KUB_CONTAINERD_PACKAGE. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if command -v kubeadm >/dev/null && { [ -e /etc/kubernetes/kubelet.conf ] || [ -e /etc/kubernetes/admin.conf ] ||
    [ -d /var/lib/etcd ] || [ -n "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ]; }; then
  kubeadm reset -f --cri-socket "$KUB_CRI_SOCKET" >/var/log/kub-reset.log 2>&1
  echo "changed: kubeadm reset"
fi
if systemctl is-active --quiet kubelet; then
  systemctl stop kubelet
  echo "changed: stopped kubelet"
fi

# the kubeconfig kub gave the SSH user on a master (user-kubeconfig.sh records where)
user_kubeconfig=$(cat /var/lib/kub/user-kubeconfig 2>/dev/null || true)
for path in /etc/cni/net.d/* ${user_kubeconfig:+"$user_kubeconfig"} /var/lib/kub /etc/modules-load.d/k8s.conf \
    /etc/sysctl.d/k8s.conf; do
  if [ -e "$path" ]; then
    rm -rf "$path"
    echo "changed: removed $path"
  fi
done

# kube-proxy and CNI plugins leave chains named KUBE-*, CNI-*, FLANNEL*: drop those and the rules that use
# them, keep the rest of the host's firewall.
for save in iptables-save ip6tables-save; do
  command -v "$save" >/dev/null || continue
  restore=${save%-save}-restore
  if "$save" | grep -Eq 'KUBE-|CNI-|FLANNEL'; then
    "$save" | grep -Ev 'KUBE-|CNI-|FLANNEL' | "$restore"
    echo "changed: removed Kubernetes chains from ${save%-save}"
  fi
done

if [ "${KUB_PURGE:-no}" = yes ]; then
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' kubelet kubeadm kubectl cri-tools \
    kubernetes-cni "$KUB_CONTAINERD_PACKAGE" 2>/dev/null | awk '$2 ~ /^.i/ { print $1 }')
  if [ -n "$installed" ]; then
    # shellcheck disable=SC2086  # one word per package
    apt-mark unhold $installed >/dev/null
    # shellcheck disable=SC2086
    apt-get -q -y -o DPkg::Lock::Timeout=300 purge $installed >/dev/null
    echo "changed: purged $(tr '\n' ' ' <<< "$installed")"
  fi
  for path in /etc/apt/sources.list.d/kubernetes.list /etc/apt/keyrings/kubernetes-apt-keyring.asc \
      /etc/containerd /etc/kubernetes /var/lib/kubelet; do
    if [ -e "$path" ]; then
      rm -rf "$path"
      echo "changed: removed $path"
    fi
  done
fi
