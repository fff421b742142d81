#!/usr/bin/env bash
# containerd configured for the kubelet: systemd cgroup driver, CRI on; enabled and running.
# kub's settings are merged into the host's own: /etc/containerd/config.toml becomes containerd's full view of
# the host's config (`containerd config dump`: every key the host set, the rest at their defaults) with only
# SystemdCgroup, the sandbox image and the registries' config_path set. (An imported drop-in cannot carry them:
# containerd 1.x replaces a whole plugin section with an import's, which would drop e.g. the host's registry
# config_path.) The host's own file is kept beside it and put back at uninstall (and containerd restarted with it).
# Registries: config_path names KUB_CONTAINERD_CERTS_DIR (before the host's own folders, which stay), where
# KUB_REGISTRY_HOSTS (a `path base64` line per file: cluster.registry_mirrors' hosts.toml files and CAs) is written
# as kub's files; kub's files there that it no longer names go (a host's own put back).
# Idempotent: prints `changed: ...` per change.
# KUB_DRY_RUN=yes: `would: ...` lines; where containerd is not installed yet, the config it would write is told in one.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

config=/etc/containerd/config.toml
original=$config$KUB_ORIGINAL_SUFFIX
# the host's own settings: its config as it is, unless it is still what kub wrote; then the original kub kept
if [ -f "$config" ] && ! owned_unchanged "$KUB_OWNED_FILES" "$config"; then
  base=$config
elif [ -f "$original" ]; then
  base=$original
else
  base=""
fi

registry_hosts() {  # the hosts.toml files (and CAs) of KUB_REGISTRY_HOSTS, and no other of kub's under the folder
  local path content named=() owned
  while read -r path content; do
    [ -n "$path" ] || continue
    named+=("$path")
    ensure_owned_file "$KUB_OWNED_FILES" "$path" "$(base64 -d <<< "$content")"
  done <<< "$KUB_REGISTRY_HOSTS"
  mapfile -t owned < <(cut -c 67- "$KUB_OWNED_FILES" 2>/dev/null | grep -F "$KUB_CONTAINERD_CERTS_DIR/" || true)
  for path in "${owned[@]}"; do
    [ "${path#"$KUB_CONTAINERD_CERTS_DIR"/}" != "$path" ] || continue
    [ "${#named[@]}" -gt 0 ] && printf '%s\n' "${named[@]}" | grep -qxF -- "$path" && continue
    left_changed=()
    release_file "$KUB_OWNED_FILES" "$path"
    [ "${#left_changed[@]}" -eq 0 ] || echo "note: left ${left_changed[*]}: changed since kub wrote it"
    act rmdir "$(dirname "$path")" 2>/dev/null || true
  done
}

if dry_run && ! command -v containerd >/dev/null; then
  # the install before this step brings containerd (and its unit, enabled and started), then its config is written
  registry_hosts
  keep_original "$KUB_OWNED_FILES" "$config"
  changed "wrote $config: ${base:+the settings of $base with }SystemdCgroup = true and the sandbox image of the" \
    "kubeadm installed; config_path naming $KUB_CONTAINERD_CERTS_DIR"
  changed "restarted containerd"
  exit 0
fi
if [ -n "$base" ]; then
  full=$(containerd --config "$base" config dump 2>&1) ||
    fail "containerd cannot read $base: $(tail -n 1 <<< "$full"): fix that file, then run install again"
  # containerd 1.x lists the file it read among the dump's imports: that one is merged in already
  full=$(awk -v path="$base" '/^imports = \[.*\]$/ {
    n = split(substr($0, 12, length($0) - 12), items, ", *")
    kept = ""
    for (i = 1; i <= n; i++) {
      item = items[i]
      gsub(/^["\047]|["\047]$/, "", item)
      if (item != path && item != "") kept = kept (kept == "" ? "" : ", ") items[i]
    }
    print "imports = [" kept "]"
    next
  } { print }' <<< "$full")
else
  full=$(containerd config default)
fi

# SystemdCgroup on and the sandbox (pause) image this kubeadm expects. containerd 1.x (config version 2) and
# 2.x (version 3) name their sections differently; both have a `SystemdCgroup = ...` line, and the sandbox image
# as `sandbox_image = "..."` (1.x) or `sandbox = '...'` (2.x).
pause=$(kubeadm config images list --kubernetes-version "$(kubeadm version -o short)" 2>/dev/null |
  grep -m 1 '/pause:' || true)
wanted=$(sed -E 's/^([[:space:]]*SystemdCgroup[[:space:]]*=[[:space:]]*)false/\1true/' <<< "$full")
if [ -n "$pause" ]; then
  wanted=$(sed -E "s#^([[:space:]]*sandbox(_image)?[[:space:]]*=[[:space:]]*)[\"'][^\"']*[\"']#\\1\"$pause\"#" <<< "$wanted")
fi
grep -Eq '^[[:space:]]*SystemdCgroup = true' <<< "$wanted" ||
  fail "containerd's config (${base:-its default}) has no SystemdCgroup setting to turn on: this containerd is not supported"
registries=""
if old_registries "$wanted"; then
  # containerd refuses a config_path beside them: the host's registries stay as they are, and kub adds none
  [ -z "$KUB_REGISTRY_HOSTS" ] || fail "containerd's config ($base) sets registries the old way (registry.mirrors" \
    "or registry.configs), which containerd refuses beside the config_path that cluster.registry_mirrors needs:" \
    "move them to hosts.toml files under $KUB_CONTAINERD_CERTS_DIR (containerd's hosts.md), then run install again"
else
  with_path=$(registry_config_path "$wanted") ||
    fail "containerd's config (${base:-its default}) has no registry config_path setting: this containerd is not supported"
  # the line that changed, for the message
  changed_line=$(grep -vxF -f <(printf '%s\n' "$wanted") <<< "$with_path" || true)
  [ -z "$changed_line" ] || registries="; $(sed -E 's/^[[:space:]]+//' <<< "$changed_line")"
  wanted=$with_path
fi
registry_hosts

if [ ! -f "$config" ] || [ "$(cat "$config")" != "$wanted" ]; then
  keep_original "$KUB_OWNED_FILES" "$config"
  if ! dry_run; then
    mkdir -p "$(dirname "$config")"
    printf '%s\n' "$wanted" > "$config"
    chmod 0644 "$config"
  fi
  changed "wrote $config: ${base:+the settings of $base with }SystemdCgroup = true${pause:+ and sandbox $pause}$registries"
  own_file "$KUB_OWNED_FILES" "$config"
  act systemctl restart containerd
  changed "restarted containerd"
  restarted=yes
fi
owned_unchanged "$KUB_OWNED_FILES" "$config" || own_file "$KUB_OWNED_FILES" "$config"
if ! systemctl is-enabled --quiet containerd; then
  act systemctl enable --quiet containerd
  changed "enabled containerd"
fi
if [ "${restarted:-no}" = no ] && ! systemctl is-active --quiet containerd; then   # a restart starts it
  act systemctl start containerd
  changed "started containerd"
fi
