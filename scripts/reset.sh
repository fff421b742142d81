#!/usr/bin/env bash
# Undoes what kub set up on a host of its cluster: kubeadm reset, the cluster's CNI config and iptables chains,
# the files kub wrote (only those that still hold what kub wrote; a host's own file kub replaced is put back);
# with KUB_PURGE=yes also the packages kub installed and containerd's release files. What is not kub's is left,
# with a `note:` line saying what and why.
# Env: KUB_PURGE (yes|no), KUB_CRI_SOCKET. Idempotent. KUB_DRY_RUN=yes: `would: ...` lines, and apt's
# simulations read a copy of dpkg's status without kub's holds (kub would lift them first).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export DEBIAN_FRONTEND=noninteractive

still_installed() {  # still_installed RECORD: the packages it names that dpkg has
  comm -12 <(sort -u "$1" 2>/dev/null || true) <(installed_packages)
}
status_copy=""
would_purge() {  # would_purge PACKAGE...: every package apt would take with them (a name none has, if apt refuses)
  local simulated
  simulated=$(apt-get -s "${apt_read_opts[@]}" ${status_copy:+-o Dir::State::status="$status_copy"} purge "$@" 2>&1) ||
    { echo "apt (it refuses: $(grep -m 1 '^E:' <<< "$simulated"))"; return; }
  awk '$1 == "Purg" || $1 == "Remv" { print $2 }' <<< "$simulated"
}
purge_packages() {  # purges the packages kub installed, except those another installed package depends on
  local ours purge package outside needed=()
  if [ ! -r "$KUB_INSTALLED_PACKAGES" ]; then
    echo "note: purged no package: there is no record of what kub installed on this host ($KUB_INSTALLED_PACKAGES)"
    return
  fi
  mapfile -t ours < <(still_installed "$KUB_INSTALLED_PACKAGES")
  # kub's holds would stop apt from taking its own packages in the simulations (and the purge)
  local held=""
  [ "${#ours[@]}" -eq 0 ] || held=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${ours[@]}" 2>/dev/null | awk '$1 ~ /^h/ { print $2 }')
  if [ -n "$held" ] && dry_run; then
    status_copy=$(mktemp)
    sed 's/^Status: hold /Status: install /' /var/lib/dpkg/status > "$status_copy"
  elif [ -n "$held" ]; then
    xargs apt-mark unhold <<< "$held" >/dev/null
  fi
  # apt's simulation names every package a purge takes: while it takes one that is not kub's, kub's packages are
  # added one by one, and one whose purge would take another's package is left (an alternative `a | b` in a
  # Depends is only broken by purging both, so one at a time)
  while [ "${#ours[@]}" -gt 0 ] && would_purge "${ours[@]}" | grep -qvxF -f <(printf '%s\n' "${ours[@]}"); do
    purge=()
    for package in "${ours[@]}"; do
      outside=$(would_purge "${purge[@]}" "$package" | grep -vxF -f <(printf '%s\n' "${ours[@]}") | head -n 1 || true)
      if [ -n "$outside" ]; then
        needed+=("$package (needed by $outside)")
      else
        purge+=("$package")
      fi
    done
    ours=("${purge[@]}")
  done
  [ -z "$status_copy" ] || rm -f "$status_copy"
  if [ "${#ours[@]}" -gt 0 ] && dry_run; then
    changed "purged ${ours[*]}"
    ours=()
  fi
  if [ "${#ours[@]}" -gt 0 ]; then
    apt-get -q -y -o DPkg::Lock::Timeout=300 purge "${ours[@]}" >/var/log/kub-apt-purge.log 2>&1 ||
      fail "apt-get purge ${ours[*]} failed: $(grep -E '^E:' /var/log/kub-apt-purge.log | head -n 1)"
    changed "purged ${ours[*]}"
  fi
  # what stays keeps kub's hold
  held=$(comm -12 <(sort <<< "$held") <(installed_packages))
  [ -z "$held" ] || act xargs apt-mark hold <<< "$held" >/dev/null
  local found
  found=$(still_installed "$KUB_FOUND_PACKAGES" | tr '\n' ' ')
  [ -z "$found" ] || echo "note: left ${found% }: installed before kub installed anything"
  [ "${#needed[@]}" -eq 0 ] || echo "note: left $(listed "${needed[@]}"): other installed packages depend on them"
}

kubeadm_reset
# (kubeadm reset stops the kubelet itself)
if systemctl is-active --quiet kubelet && ! { dry_run && [ "$kubeadm_was_reset" = yes ]; }; then
  act systemctl stop kubelet
  changed "stopped kubelet"
fi

# CNI config: only the files recorded as the cluster's CNI's once the node was Ready, while they hold what was
# recorded; the rest (podman's, a user's) stays. The networks the removed files name are the cluster's.
networks=()
bridges=()
flannel=no
left_cni=()
json_values() {  # json_values KEY FILE: every "KEY": "value" of a CNI config, its values
  grep -oE "\"$1\"[[:space:]]*:[[:space:]]*\"[^\"]+\"" "$2" | cut -d'"' -f4 || true
}
for file in /etc/cni/net.d/*; do
  [ -f "$file" ] || continue
  if owned_unchanged "$KUB_CNI_FILES" "$file"; then
    network=$(json_values name "$file" | head -n 1)
    [ -z "$network" ] || networks+=("$network")
    # the bridge its pods hang on: named, or the bridge plugin's (and flannel's delegate's) default
    mapfile -t named < <(json_values bridge "$file")
    if [ "${#named[@]}" -gt 0 ]; then
      bridges+=("${named[@]}")
    elif json_values type "$file" | grep -qxE 'bridge|flannel'; then
      bridges+=(cni0)
    fi
    if json_values type "$file" | grep -qx flannel; then flannel=yes; fi
    remove_paths "$file"
  elif [ -n "$(owned_sum "$KUB_CNI_FILES" "$file")" ]; then
    left_cni+=("$file (changed since it was recorded)")
  elif grep -qF "  $file" "$KUB_CNI_BEFORE" 2>/dev/null; then
    left_cni+=("$file (there before kub's first change)")
  else
    left_cni+=("$file (not recorded as the cluster's)")
  fi
done
[ "${#left_cni[@]}" -eq 0 ] || echo "note: left $(listed "${left_cni[@]}"): not the cluster's CNI config"

# what the cluster's network leaves besides its config (kubeadm reset removed the pods, and with them their veths
# and addresses): the bridge, flannel's VXLAN device and subnet file, the plugins' state of the networks
links=("${bridges[@]}")
if [ "$flannel" = yes ]; then
  mapfile -t -O "${#links[@]}" links < <(ip -o link show type vxlan 2>/dev/null | awk -F': ' '$2 ~ /^flannel\.[0-9]+(@|$)/ { sub(/@.*/, "", $2); print $2 }')
fi
for link in "${links[@]}"; do
  if ip link show "$link" >/dev/null 2>&1; then
    act ip link delete "$link"
    changed "removed the cluster network's link $link"
  fi
done
for network in "${networks[@]}"; do
  remove_paths "/var/lib/cni/networks/$network" /var/lib/cni/results/"$network"-*
done
[ "$flannel" = no ] || remove_paths /var/lib/cni/flannel /run/flannel
# the plugins' folders, once nothing else is in them
[ "${#networks[@]}" -eq 0 ] || act rmdir /var/lib/cni/networks /var/lib/cni/results /var/lib/cni 2>/dev/null || true

# iptables: kube-proxy's and flannel's chains (KUBE-*, FLANNEL*), and the CNI- chains of the cluster's CNI
# networks: the bridge and portmap plugins' rules carry a comment `name: "<network>" id: "<container>"`. Other
# CNI- chains (podman's are named CNI-<hash> too) and the rest of the host's firewall stay.
patterns=$(mktemp)
trap 'rm -f "$patterns"' EXIT
for save in iptables-save ip6tables-save; do
  command -v "$save" >/dev/null || continue
  restore=${save%-save}-restore
  rules=$("$save")
  { printf '%s\n' KUBE- FLANNEL
    for network in "${networks[@]}"; do
      comment="name: \\\"$network\\\""
      printf '%s\n' "$comment"
      # the per-container chains those rules jump to or live in (not the shared CNI-HOSTPORT-* ones)
      grep -F -- "$comment" <<< "$rules" | grep -oE 'CNI-[A-Za-z0-9_-]+' | grep -v '^CNI-HOSTPORT-' || true
    done
  } | sort -u > "$patterns"
  if grep -qF -f "$patterns" <<< "$rules"; then
    dry_run || grep -vF -f "$patterns" <<< "$rules" | "$restore"
    changed "removed the cluster's chains from ${save%-save}"
  fi
done

# kub's files; containerd's config back to the host's own (or containerd's defaults), and containerd, if it
# stays, restarted with it
config_before=$(file_sum /etc/containerd/config.toml 2>/dev/null || true)
# in a dry run the file stays: release_files would take it (or put the host's own back) while it holds kub's
config_released=no
if owned_unchanged "$KUB_OWNED_FILES" /etc/containerd/config.toml; then config_released=yes; fi
# kub's load balancer of the API: stopped (keepalived gives the virtual IP up) and disabled before its units go
balancer_units=no
for unit in "$KUB_API_KEEPALIVED_UNIT" "$KUB_API_HAPROXY_UNIT"; do
  owned_unchanged "$KUB_OWNED_FILES" "$unit" || continue
  balancer_units=yes
  name=$(basename "$unit" .service)
  if systemctl is-enabled --quiet "$name" 2>/dev/null || systemctl is-active --quiet "$name"; then
    act systemctl disable --now --quiet "$name"
    changed "stopped and disabled $name"
  fi
done
# the folders of kub's registry hosts files (cluster.registry_mirrors) go with them, once empty
mapfile -t registry_dirs < <(cut -c 67- "$KUB_OWNED_FILES" 2>/dev/null | grep -F "$KUB_CONTAINERD_CERTS_DIR/" |
  xargs -r -n 1 dirname | sort -u || true)
release_files "$KUB_OWNED_FILES"
act rmdir "${registry_dirs[@]}" "$KUB_CONTAINERD_CERTS_DIR" /etc/containerd "$KUB_API_BALANCER_DIR" 2>/dev/null || true
[ "$balancer_units" = no ] || act systemctl daemon-reload
if [ "${KUB_PURGE:-no}" != yes ] && systemctl is-active --quiet containerd &&
    if dry_run; then [ "$config_released" = yes ]; else
      [ "$(file_sum /etc/containerd/config.toml 2>/dev/null || true)" != "$config_before" ]; fi; then
  act systemctl restart containerd
  changed "restarted containerd"
fi

if [ "${KUB_PURGE:-no}" = yes ]; then
  # the apt source and containerd's release files: kub's are removed (a host's own put back) first, while their
  # packages are there
  if [ -f /usr/local/lib/systemd/system/containerd.service ] &&
      owned_unchanged "$KUB_PACKAGE_FILES" /usr/local/lib/systemd/system/containerd.service; then
    act systemctl disable --now --quiet containerd 2>/dev/null || true
  fi
  release_files "$KUB_PACKAGE_FILES"
  act systemctl daemon-reload
  purge_packages
  remove_paths /etc/kubernetes /var/lib/kubelet
  remove_paths "$KUB_DIR"
elif [ -n "$(find "$KUB_DIR" -mindepth 1 -maxdepth 1 ! -path "$KUB_PACKAGES_DIR" 2>/dev/null)" ]; then
  # the packages stay, and with them the record of what kub installed and of their files, for a later purge
  act find "$KUB_DIR" -mindepth 1 -maxdepth 1 ! -path "$KUB_PACKAGES_DIR" -exec rm -rf {} +
  changed "removed kub's records in $KUB_DIR (kept $KUB_PACKAGES_DIR, what kub installed, for a purge)"
fi
