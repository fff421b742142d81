#!/usr/bin/env bash
# containerd from the OS and the Kubernetes packages at exact versions from their per-minor repository
# (pkgs.k8s.io layout), in one apt transaction; kubelet, kubeadm and kubectl held. apt's lists are refreshed
# at most once, and only when they lack a package kub wants.
# Env: KUB_REPO_URL, KUB_REPO_KEY (armored signing key), KUB_INSTALL (package=version ...),
# KUB_OS_PACKAGES (packages taken at the OS's version). Idempotent: prints `changed: ...` per change (KUB_DRY_RUN=yes:
# `would: ...`, with apt's lists as they are: kub read the repository's index before).
# Which packages kub installed (those dpkg did not have before, dependencies too) and which of its own it found
# installed are recorded (KUB_INSTALLED_PACKAGES, KUB_FOUND_PACKAGES): a purge takes only the former.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export DEBIAN_FRONTEND=noninteractive
# no translated package descriptions: nothing here reads them, and they are the largest lists to fetch
apt_opts=(-q -y -o DPkg::Lock::Timeout=300 -o Acquire::Languages=none)
keyring=/etc/apt/keyrings/kubernetes-apt-keyring.asc
source_list=/etc/apt/sources.list.d/kubernetes.list
read -ra wanted <<< "$KUB_INSTALL"
read -ra os_packages <<< "${KUB_OS_PACKAGES:-}"

finish_dpkg
ensure_owned_file "$KUB_PACKAGE_FILES" "$keyring" "$KUB_REPO_KEY" 0644
ensure_owned_file "$KUB_PACKAGE_FILES" "$source_list" "deb [signed-by=$keyring] $KUB_REPO_URL /" 0644

add_to() {  # add_to RECORD NAME...: one name a line, each once (a record: none in a dry run)
  dry_run && return 0
  mkdir -p "$(dirname "$1")"
  { cat "$1" 2>/dev/null || true; printf '%s\n' "${@:2}"; } | sort -u | grep -v '^$' > "$1.new" || true
  mv "$1.new" "$1"
}
# kub's packages found installed before kub installed any: the host's, left at a purge
if [ ! -e "$KUB_INSTALLED_PACKAGES" ]; then
  found=()
  for item in "${wanted[@]%%=*}" "${os_packages[@]}"; do
    [ -z "$(installed_version "$item")" ] || found+=("$item")
  done
  add_to "$KUB_FOUND_PACKAGES" "${found[@]}"
  add_to "$KUB_INSTALLED_PACKAGES"
fi

missing=()
for item in "${wanted[@]}"; do
  [ "$(installed_version "${item%%=*}")" = "${item#*=}" ] || missing+=("$item")
done
for package in "${os_packages[@]}"; do
  [ -n "$(installed_version "$package")" ] || missing+=("$package")
done
unknown() {  # the wanted packages apt's lists do not offer (one apt-cache run: each run loads apt's cache)
  local offered item
  # madison's lines: `  name | version | source`; a package=version or a bare name must be among them
  offered=$(apt-cache "${apt_read_opts[@]}" madison "${missing[@]%%=*}" 2>/dev/null | awk -F'|' '{
    gsub(/ /, "", $1); gsub(/ /, "", $2); print $1; print $1 "=" $2 }')
  for item in "${missing[@]}"; do
    grep -qxF -- "$item" <<< "$offered" || echo "$item"
  done
}
update() {  # update [all]: refresh apt's lists; only the Kubernetes repository's while the OS's are there
  local log=/var/log/kub-apt-update.log
  # the OS's archives have dists/ in their list names, the flat Kubernetes repository has not
  if [ "${1:-}" = all ] || ! compgen -G '/var/lib/apt/lists/*_dists_*_Packages*' >/dev/null; then
    updated=all
    apt-get "${apt_opts[@]}" update >"$log" 2>&1 || fail "apt-get update failed: $(grep -E '^(E|Err):' "$log" | head -n 1)"
  else
    updated=kubernetes
    apt-get "${apt_opts[@]}" update -o Dir::Etc::sourcelist="$source_list" -o Dir::Etc::sourceparts=- \
      -o APT::Get::List-Cleanup=0 >"$log" 2>&1 ||
      fail "apt-get update of $KUB_REPO_URL failed: $(grep -E '^(E|Err):' "$log" | head -n 1)"
  fi
}
install() {
  local options=(--no-install-recommends --allow-change-held-packages --allow-downgrades) new
  # recorded before apt installs them: the packages apt's simulation adds that dpkg does not have yet (so a run
  # cut short still leaves them kub's)
  mapfile -t new < <(comm -13 <(installed_packages) <(apt-get -s "${apt_opts[@]}" install "${options[@]}" \
    "${missing[@]}" 2>/dev/null | awk '$1 == "Inst" { print $2 }' | sort -u))
  add_to "$KUB_INSTALLED_PACKAGES" "${new[@]}"
  apt-get "${apt_opts[@]}" install "${options[@]}" "${missing[@]}" >/var/log/kub-apt-install.log 2>&1
}

updated=no
lacking=$( [ "${#missing[@]}" -eq 0 ] || unknown)
if [ -n "$lacking" ] && ! dry_run; then
  if grep -qvF = <<< "$lacking"; then update all; else update; fi
  lacking=$(unknown)
  [ -z "$lacking" ] || fail "$(tr '\n' ' ' <<< "$lacking")is not in the package repositories ($KUB_REPO_URL and the OS's): check the mirror, or set kubernetes_version to a minor it has"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if ! dry_run && ! install; then
    # the OS's lists may be too old for what the packages depend on: refresh them all once, then again
    if [ "$updated" = all ] || ! { update all; install; }; then
      fail "apt-get install ${missing[*]} failed: $(grep -E '^E:' /var/log/kub-apt-install.log | head -n 1)"
    fi
  fi
  changed "installed ${missing[*]}"
fi

# dpkg's selection says hold with an `h` first; one apt-mark run holds what is not held yet
read -ra held_packages <<< "$KUB_PACKAGES"
read -ra unheld <<< "$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${held_packages[@]}" 2>/dev/null |
  awk '$1 !~ /^h/ { printf "%s ", $2 }')"
# what the install above brings (dpkg knows it only then; in a dry run not yet), installed unheld
to_be_installed() { printf '%s\n' "${missing[@]%%=*}" | grep -qxF -- "$1"; }
if dry_run; then
  unheld=()
  for package in $(printf '%s\n' "${held_packages[@]}" | sort); do   # in dpkg-query's order
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null || true)
    if [[ "$status" != h* ]] && { [ -n "$status" ] || to_be_installed "$package"; }; then unheld+=("$package"); fi
  done
fi
if [ "${#unheld[@]}" -gt 0 ]; then
  act apt-mark hold "${unheld[@]}" >/dev/null
  changed "held ${unheld[*]}"
fi
# kubelet's package enables and (re)starts it when it is installed or upgraded: in a dry run that is yet to come
by_package=no
if dry_run && to_be_installed kubelet; then by_package=yes; fi
kubelet_running() {
  [ "$by_package" = yes ] || [[ "$(systemctl is-active kubelet)" =~ ^(active|activating|reloading)$ ]]
}
if [ "$by_package" = no ] && ! systemctl is-enabled --quiet kubelet; then
  act systemctl enable --quiet kubelet
  changed "enabled kubelet"
fi
# until kubeadm init or join configures it, the kubelet only restarts in a loop (systemd shows it activating
# between two tries): it waits stopped instead (kubeadm starts it)
if [ ! -e /etc/kubernetes/kubelet.conf ] && kubelet_running; then
  act systemctl stop kubelet
  changed "stopped the kubelet until kubeadm starts it"
fi
# a kubelet kubeadm configured but someone stopped is started again (heal and re-runs bring its node back)
if [ -e /etc/kubernetes/kubelet.conf ] && [ "$by_package" = no ] && ! systemctl is-active --quiet kubelet; then
  act systemctl start kubelet
  changed "started the kubelet"
fi
