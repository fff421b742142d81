#!/usr/bin/env bash
# Shared by every kub script: kub sends this file ahead of the script itself. Paths and package lists
# arrive as environment (KUB_DIR, KUB_OWNER_FILE, KUB_RECORD_FILE, KUB_PACKAGES, ...: kub_plugin/hosts/state.py).

# KUB_DRY_RUN=yes: a plan. The script reads as usual but changes nothing; each change it would make is told as
# `would: ...` with the text its `changed: ...` line would have. Commands that change the host run through `act`.
dry_run() { [ "${KUB_DRY_RUN:-no}" = yes ]; }
changed() { if dry_run; then echo "would: $*"; else echo "changed: $*"; fi; }
act() { dry_run || "$@"; }  # act COMMAND...: runs COMMAND, unless this is a dry run
# (in a dry run kubectl keeps no cache, and apt's reads build theirs in memory, not in /var/cache/apt)
apt_read_opts=()
# shellcheck disable=SC2034  # packages.sh and reset.sh use apt_read_opts
if dry_run; then
  export KUBECACHEDIR=/dev/null
  apt_read_opts=(-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
fi
fail() { echo "error: $*" >&2; exit 1; }
# a command that stops a script (set -e) names itself, so the error line says what failed
trap 'echo "error: \`$BASH_COMMAND\` failed (exit $?)" >&2' ERR

listed() {  # listed ITEM...: the items as one line, comma-separated
  local line
  line=$(printf '%s, ' "$@")
  echo "${line%, }"
}

ensure_file() {  # ensure_file PATH CONTENT [MODE]: write only when different (trailing newlines aside)
  local content
  content=$(printf '%s' "$2")
  if [ ! -f "$1" ] || [ "$(cat "$1")" != "$content" ]; then
    if ! dry_run; then
      mkdir -p "$(dirname "$1")"
      printf '%s\n' "$content" > "$1"
      chmod "${3:-0644}" "$1"
    fi
    changed "wrote $1"
  fi
}

# Files kub owns: a record (KUB_OWNED_FILES or KUB_PACKAGE_FILES) of `sha256  path` lines, as sha256sum writes them.
file_sum() { sha256sum < "$1" | cut -d' ' -f1; }
owned_sum() {  # owned_sum RECORD PATH: the sha256 kub recorded for PATH, if any
  awk -v path="$2" 'substr($0, 67) == path { print substr($0, 1, 64) }' "$1" 2>/dev/null
}
owned_unchanged() {  # owned_unchanged RECORD PATH: PATH is kub's and still holds what kub wrote
  local sum
  sum=$(owned_sum "$1" "$2")
  [ -n "$sum" ] && [ -f "$2" ] && [ "$(file_sum "$2")" = "$sum" ]
}
own_file() {  # own_file RECORD PATH: PATH, as it is now, is kub's (a record only: no line, and none in a dry run)
  local others
  dry_run && return 0
  others=$(awk -v path="$2" 'substr($0, 67) != path' "$1" 2>/dev/null || true)
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "${others:+$others
}$(file_sum "$2")  $2" > "$1"
}
keep_original() {  # keep_original RECORD PATH: a file of the host's own at PATH is kept beside it, once
  local original=$2$KUB_ORIGINAL_SUFFIX
  if [ -e "$2" ] && ! owned_unchanged "$1" "$2" && [ ! -e "$original" ]; then
    act cp -a "$2" "$original"
    changed "kept the host's own $2 as $original (put back at uninstall)"
  fi
}
ensure_owned_file() {  # ensure_owned_file RECORD PATH CONTENT [MODE]: ensure_file, keeping the host's own first
  keep_original "$1" "$2"
  ensure_file "$2" "$3" "${4:-0644}"
  owned_unchanged "$1" "$2" || own_file "$1" "$2"
}
forget_file() {  # forget_file RECORD PATH: PATH is no longer kub's (its line dropped; none in a dry run)
  local others
  dry_run && return 0
  others=$(awk -v path="$2" 'substr($0, 67) != path' "$1" 2>/dev/null || true)
  if [ -n "$others" ]; then printf '%s\n' "$others" > "$1"; else rm -f "$1"; fi
}
left_changed=()
release_file() {  # release_file RECORD PATH: PATH removed while it holds what kub wrote, the host's own put back; a
  # file changed since is left (named in left_changed). Either way PATH is no longer in RECORD.
  local sum original=$2$KUB_ORIGINAL_SUFFIX
  sum=$(owned_sum "$1" "$2")
  if [ -e "$2" ] && [ "$(file_sum "$2")" != "$sum" ]; then
    if [ -e "$original" ]; then
      left_changed+=("$2 (the host's own is beside it, $original)")
    else
      left_changed+=("$2")
    fi
  else
    remove_paths "$2"
    if [ -e "$original" ]; then
      act mv "$original" "$2"
      changed "put back the host's own $2"
    fi
  fi
  forget_file "$1" "$2"
}
release_files() {  # release_files RECORD: removes kub's files that still hold what kub wrote, puts the host's own back
  local path paths
  [ -r "$1" ] || return 0
  mapfile -t paths < <(cut -c 67- "$1")
  left_changed=()
  for path in "${paths[@]}"; do
    release_file "$1" "$path"
  done
  act rm -f "$1"
  [ "${#left_changed[@]}" -eq 0 ] ||
    echo "note: left what changed since kub wrote it: $(listed "${left_changed[@]}")"
}

# containerd's registry hosts: its CRI's `config_path` (1.x: [plugins."io.containerd.grpc.v1.cri".registry], 2.x:
# [plugins.'io.containerd.cri.v1.images'.registry]), folders of hosts.toml files, several joined by `:`
old_registries() {  # old_registries CONFIG: a config dump that sets registries the old way (registry.mirrors or
  # registry.configs entries, which containerd refuses beside a config_path)
  grep -Eq '^[[:space:]]*\[plugins\..*cri.*\.registry\.(mirrors|configs)\.' <<< "$1"
}
registry_config_path() {  # registry_config_path CONFIG: a config dump whose CRI config_path names KUB_CONTAINERD_CERTS_DIR
  # (first; the folders the host named stay after it); fails where it has no config_path
  awk -v dir="$KUB_CONTAINERD_CERTS_DIR" '
    /^[[:space:]]*\[/ { registry = ($0 ~ /cri.*\.registry\][[:space:]]*$/) }
    registry && /^[[:space:]]*config_path[[:space:]]*=/ {
      match($0, /[[:space:]]*=[[:space:]]*/)
      value = substr($0, RSTART + RLENGTH)
      quote = substr(value, 1, 1)
      value = substr(value, 2, length(value) - 2)
      named = 0
      n = split(value, folders, ":")
      for (i = 1; i <= n; i++) if (folders[i] == dir || folders[i] == dir "/") named = 1
      if (!named) value = dir (value == "" ? "" : ":" value)
      print substr($0, 1, RSTART - 1) " = " quote value quote
      found = 1
      next
    }
    { print }
    END { if (!found) exit 1 }' <<< "$1"
}

kubectl_changes() {  # kubectl_changes OUTPUT [unchanged]: kubectl's lines about objects as changes (with `unchanged`,
  # the objects it left as they were as notes, else skipped); warnings as notes; its error lines are kubectl_error's
  local line
  while read -r line; do
    # a dry run's lines end in ` (server dry run)` or ` (dry run)`: the same changes
    line=${line% (server dry run)} line=${line% (dry run)}
    case "$line" in
      "") ;;
      *" unchanged") if [ "${2:-}" = unchanged ]; then echo "note: $line"; fi ;;
      Warning:*) echo "note: kubectl: $line" ;;
      "Error from server"*|error:*|"The "*" is invalid:"*|"Error "*|"* "*) ;;
      *) changed "$line" ;;
    esac
  done <<< "$1"
}

kubectl_error() {  # kubectl_error OUTPUT: the lines of kubectl's output that say why it failed (each object's)
  local errors
  # an object's invalid fields come one a line (`* field: why`) after `The Kind "name" is invalid:`: one line each
  errors=$(awk '
    function flush() { if (invalid != "") print invalid; invalid = "" }
    /^\* / && invalid != "" { sub(/^\* /, ""); invalid = invalid (invalid ~ /:$/ ? " " : "; ") $0; next }
    { flush() }
    /^The .* is invalid:/ { invalid = $0; next }
    /^(Error from server|error:|Error )/ { print }
    END { flush() }' <<< "$1")
  if [ -z "$errors" ]; then errors=$(grep -v -e '^Warning:' -e '^$' <<< "$1" | tail -n 1); fi
  paste -sd '|' <<< "$errors" | sed 's/|/; /g'
}

kubectl_failed() {  # kubectl_failed OUTPUT [WHAT]: what kubectl did before it failed, as changes; then the failure
  kubectl_changes "$1"
  fail "${2:+$2: }$(kubectl_error "$1")"
}

remove_paths() {  # remove_paths PATH...: those that exist
  local path
  for path in "$@"; do
    if [ -e "$path" ] || [ -L "$path" ]; then
      act rm -rf "$path"
      changed "removed $path"
    fi
  done
}

finish_dpkg() {  # an install cut short (e.g. a lost connection) leaves dpkg half-configured
  if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
    act dpkg --configure -a
    changed "finished an interrupted package install"
  fi
}

installed_version() {  # status ?i?: installed, whether held (hi) or not (ii)
  dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null | awk '$1 ~ /^.i/ { print $2 }'
}

owner_id() {  # the cluster id in kub's owner mark (`<cluster id> <deployment>/<master node>`), if any
  if [ -r "$KUB_OWNER_FILE" ]; then awk 'NR == 1 { print $1 }' "$KUB_OWNER_FILE"; fi
}
owner_name() {  # the deployment/master node the mark names, for messages
  if [ -r "$KUB_OWNER_FILE" ]; then awk 'NR == 1 { sub(/^[^ ]+ /, ""); print }' "$KUB_OWNER_FILE"; fi
}
marked_ours() {  # the host carries the mark of the cluster whose id is KUB_CLUSTER_ID
  [ -n "${KUB_CLUSTER_ID:-}" ] && [ "$(owner_id)" = "$KUB_CLUSTER_ID" ]
}
installed_packages() {  # every installed package's name, sorted
  dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 ~ /^.i/ { print $2 }' | sort
}

kubeadm_was_reset=no
kubeadm_reset() {  # the one way kub resets Kubernetes on a host (only where kubeadm left state)
  if command -v kubeadm >/dev/null && { [ -e /etc/kubernetes/kubelet.conf ] || [ -e /etc/kubernetes/admin.conf ] ||
      [ -n "$(ls -A /var/lib/etcd 2>/dev/null)" ] || [ -n "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ]; }; then
    if ! dry_run; then
      kubeadm reset -f --cri-socket "$KUB_CRI_SOCKET" >/var/log/kub-reset.log 2>&1 ||
        fail "kubeadm reset failed: $(tail -n 1 /var/log/kub-reset.log)"
      rm -f "$KUB_RECORD_FILE"
    fi
    changed "kubeadm reset"
    # shellcheck disable=SC2034  # reset.sh reads it
    kubeadm_was_reset=yes
  fi
}

# (init.sh and join.sh do not call it in a dry run)
with_secret_file() {  # with_secret_file CONTENT COMMAND...: COMMAND's {} is a root-only file holding CONTENT
  local file rc=0
  file=$(mktemp "$KUB_DIR/secret.XXXXXX")
  chmod 0600 "$file"
  printf '%s\n' "$1" > "$file"
  shift
  "${@//\{\}/$file}" || rc=$?
  rm -f "$file"
  return "$rc"
}
