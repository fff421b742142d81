#!/usr/bin/env bash
# containerd from the OS packages, configured for kubelet (systemd cgroup driver, CRI on).
# Env: KUB_CONTAINERD_PACKAGE. Idempotent: prints `changed: ...` per change.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -y -o DPkg::Lock::Timeout=300)

# An install cut short (e.g. a lost connection) leaves dpkg half-configured: finish it first.
if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
  dpkg --configure -a
  echo "changed: finished an interrupted package install"
fi

if ! dpkg-query -W -f='${db:Status-Abbrev}' "$KUB_CONTAINERD_PACKAGE" 2>/dev/null | grep -q '^.i'; then
  apt-get "${apt_opts[@]}" update >/dev/null
  apt-get "${apt_opts[@]}" install --no-install-recommends "$KUB_CONTAINERD_PACKAGE" >/dev/null
  echo "changed: installed $KUB_CONTAINERD_PACKAGE"
fi

# The default config with SystemdCgroup on; containerd 1.x and 2.x name the runc options section differently,
# both keep the `SystemdCgroup = false` line that we flip.
wanted=$(containerd config default | sed -E 's/^([[:space:]]*SystemdCgroup[[:space:]]*=[[:space:]]*)false/\1true/')
if ! grep -q 'SystemdCgroup = true' <<< "$wanted"; then
  echo "error: containerd's default config has no SystemdCgroup setting to turn on: this containerd is not supported" >&2
  exit 1
fi
config=/etc/containerd/config.toml
if [ ! -f "$config" ] || [ "$(cat "$config")" != "$wanted" ]; then
  mkdir -p /etc/containerd
  printf '%s\n' "$wanted" > "$config"
  echo "changed: wrote $config (SystemdCgroup = true)"
  systemctl restart containerd
  echo "changed: restarted containerd"
fi
if ! systemctl is-enabled --quiet containerd; then
  systemctl enable --quiet containerd
  echo "changed: enabled containerd"
fi
if ! systemctl is-active --quiet containerd; then
  systemctl start containerd
  echo "changed: started containerd"
fi
