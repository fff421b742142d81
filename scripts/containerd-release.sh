#!/usr/bin/env bash
# Installs containerd's upstream release kub uploaded to $KUB_STAGING (containerd.tar.gz, runc,
# containerd.service): binaries under /usr/local, runc as /usr/local/sbin/runc, the unit in
# /usr/local/lib/systemd/system, enabled. Each file's sha256 is checked again here. Each installed file is
# recorded with its sha256 (KUB_PACKAGE_FILES) for a purge; a file of the host's own in its place is kept beside
# it and put back then.
# Env: KUB_RECORD (what is installed: versions and checksums), KUB_TARBALL_SHA256, KUB_RUNC_SHA256,
# KUB_UNIT_SHA256. Idempotent: prints `changed: ...` per change. KUB_DRY_RUN=yes: one `would: ...` line when this
# release is not the one installed (what is in its tarball is known only once uploaded and unpacked).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(cat "$KUB_CONTAINERD_RECORD" 2>/dev/null)" != "$KUB_RECORD" ] || exit 0
# the record: `containerd=<version> <sha256> runc=<version> <sha256> unit <sha256>` (the files' sums checked below)
read -r containerd _ runc _ <<< "$KUB_RECORD"
installed="installed containerd ${containerd#*=} and runc ${runc#*=} under /usr/local"
if dry_run; then
  changed "$installed"
  exit 0
fi
for item in "containerd.tar.gz:$KUB_TARBALL_SHA256" "runc:$KUB_RUNC_SHA256" "containerd.service:$KUB_UNIT_SHA256"; do
  file=$KUB_STAGING/${item%%:*}
  [ "$(sha256sum < "$file" | cut -d' ' -f1)" = "${item#*:}" ] ||
    fail "$file does not have the sha256 kub checked (${item#*:}): the upload was damaged; run install again"
done

put() {  # put MODE SOURCE PATH: installed and recorded as kub's
  keep_original "$KUB_PACKAGE_FILES" "$3"
  install -D -m "$1" "$2" "$3"
  own_file "$KUB_PACKAGE_FILES" "$3"
}
# the release's files (bin/containerd, bin/ctr, ...) go under /usr/local
unpacked=$KUB_STAGING/unpacked
mkdir -p "$unpacked"
tar -xzf "$KUB_STAGING/containerd.tar.gz" -C "$unpacked" --no-same-owner
while IFS= read -r file; do
  put 0755 "$unpacked/$file" "/usr/local/$file"
done < <(cd "$unpacked" && find . -type f -printf '%P\n' | sort)
put 0755 "$KUB_STAGING/runc" /usr/local/sbin/runc
put 0644 "$KUB_STAGING/containerd.service" /usr/local/lib/systemd/system/containerd.service
systemctl daemon-reload
systemctl enable --quiet containerd
if systemctl is-active --quiet containerd; then
  systemctl restart containerd
fi
rm -rf "$KUB_STAGING"
printf '%s\n' "$KUB_RECORD" > "$KUB_CONTAINERD_RECORD"
changed "$installed"
