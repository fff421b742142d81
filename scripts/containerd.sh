#!/usr/bin/env bash
# containerd configured for the kubelet: systemd cgroup driver, CRI on; enabled and running.
# Idempotent: prints `changed: ...` per change.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The default config with SystemdCgroup on and the sandbox (pause) image this kubeadm expects. containerd 1.x
# (config version 2) and 2.x (version 3) name their sections differently; both keep a `SystemdCgroup = false`
# line to flip, and the sandbox image as `sandbox_image = "..."` (1.x) or `sandbox = '...'` (2.x).
pause=$(kubeadm config images list --kubernetes-version "$(kubeadm version -o short)" 2>/dev/null |
  grep -m 1 '/pause:' || true)
wanted=$(containerd config default | sed -E 's/^([[:space:]]*SystemdCgroup[[:space:]]*=[[:space:]]*)false/\1true/')
if [ -n "$pause" ]; then
  wanted=$(sed -E "s#^([[:space:]]*sandbox(_image)?[[:space:]]*=[[:space:]]*)[\"'][^\"']*[\"']#\\1\"$pause\"#" <<< "$wanted")
fi
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
