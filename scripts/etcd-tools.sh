#!/usr/bin/env bash
# etcd's own tools at the cluster's etcd version on a master: etcdctl and etcdutl out of etcd's release tarball (kub
# uploaded it to KUB_STAGING/etcd.tar.gz, checked on the machine running cfy), into KUB_DIR/etcd. Nothing is done
# when the record there says this very release.
# Env: KUB_RECORD (`etcd=<version> <tarball sha256>`), KUB_TARBALL_SHA256. Prints `changed: ...` (KUB_DRY_RUN=yes:
# `would: ...`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tools=$KUB_DIR/etcd
staged=$KUB_STAGING/etcd.tar.gz

if [ "$(cat "$tools/release" 2>/dev/null)" = "$KUB_RECORD" ] && [ -x "$tools/etcdctl" ] && [ -x "$tools/etcdutl" ]; then
  exit 0
fi
if ! dry_run; then
  [ "$(sha256sum < "$staged" | cut -d' ' -f1)" = "$KUB_TARBALL_SHA256" ] ||
    fail "$staged is not the etcd release kub checked (its sha256 differs): run the workflow again"
  rm -rf "$tools.new"
  install -d -m 0700 "$tools.new"
  tar -xzf "$staged" -C "$tools.new" --strip-components=1 --wildcards '*/etcdctl' '*/etcdutl' ||
    fail "etcd's release tarball holds no etcdctl and etcdutl"
  printf '%s\n' "$KUB_RECORD" > "$tools.new/release"
  rm -rf "$tools" "$staged"
  mv "$tools.new" "$tools"
fi
changed "installed etcdctl and etcdutl of ${KUB_RECORD%% *} in $tools"
