#!/usr/bin/env bash
# containerd configured for the kubelet: systemd cgroup driver, CRI on; enabled and running.
# Idempotent: prints `changed: ...` per change.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The default config with SystemdCgroup on; containerd 1.x and 2.x name the runc options section differently,
# both keep the `SystemdCgroup = false` line that we flip.
wanted=$(containerd config default | sed -E 's/^([[:space:]]*SystemdCgroup[[:space:]]*=[[:space:]]*)false/\1true/')
grep -q 'SystemdCgroup = true' <<< "$wanted" ||
  fail "containerd's default config has no SystemdCgroup setting to turn on: this containerd is not supported"
config=/etc/containerd/config.toml
if [ ! -f "$config" ] || [ "$(cat "$config")" != "$wanted" ]; then
  ensure_file "$config" "$wanted" 0644
  systemctl restart containerd
  changed "restarted containerd"
fi
if ! systemctl is-enabled --quiet containerd; then
  systemctl enable --quiet containerd
  changed "enabled containerd"
fi
if ! systemctl is-active --quiet containerd; then
  systemctl start containerd
  changed "started containerd"
fi
