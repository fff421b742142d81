#!/usr/bin/env bash
# Installs containerd's upstream release kub uploaded to $KUB_STAGING (containerd.tar.gz, runc,
# containerd.service): binaries under /usr/local, runc as /usr/local/sbin/runc, the unit in
# /usr/local/lib/systemd/system, enabled. Each file's sha256 is checked again here.
# Env: KUB_RECORD (what is installed: versions and checksums), KUB_TARBALL_SHA256, KUB_RUNC_SHA256,
# KUB_UNIT_SHA256. Idempotent: prints `changed: ...` per change.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(cat "$KUB_CONTAINERD_RECORD" 2>/dev/null)" != "$KUB_RECORD" ] || exit 0
for item in "containerd.tar.gz:$KUB_TARBALL_SHA256" "runc:$KUB_RUNC_SHA256" "containerd.service:$KUB_UNIT_SHA256"; do
  file=$KUB_STAGING/${item%%:*}
  [ "$(sha256sum < "$file" | cut -d' ' -f1)" = "${item#*:}" ] ||
    fail "$file does not have the sha256 kub checked (${item#*:}): the upload was damaged; run install again"
done

unit=/usr/local/lib/systemd/system/containerd.service
# the release's files under /usr/local (bin/containerd, bin/ctr, ...), remembered for a purge as they are
# unpacked (one pass: decompressing the tarball costs more than anything else here)
tar -xzvf "$KUB_STAGING/containerd.tar.gz" -C /usr/local --no-same-owner |
  grep -v '/$' | sed 's#^\./##; s#^#/usr/local/#' > "$KUB_CONTAINERD_FILES"
install -D -m 0755 "$KUB_STAGING/runc" /usr/local/sbin/runc
install -D -m 0644 "$KUB_STAGING/containerd.service" "$unit"
printf '%s\n' /usr/local/sbin/runc "$unit" >> "$KUB_CONTAINERD_FILES"
systemctl daemon-reload
systemctl enable --quiet containerd
if systemctl is-active --quiet containerd; then
  systemctl restart containerd
fi
rm -rf "$KUB_STAGING"
printf '%s\n' "$KUB_RECORD" > "$KUB_CONTAINERD_RECORD"
changed "installed $(/usr/local/bin/containerd --version | awk '{ print $3 }') and runc $(/usr/local/sbin/runc --version | awk 'NR == 1 { print $3 }') under /usr/local"
