#!/usr/bin/env bash
# kubelet, kubeadm and kubectl of one minor version from its own repository (pkgs.k8s.io layout), held.
# Env: KUB_VERSION (minor, e.g. 1.31), KUB_REPO_URL, KUB_REPO_KEY (armored signing key).
# Idempotent: prints `changed: ...` per change.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -y -o DPkg::Lock::Timeout=300)
keyring=/etc/apt/keyrings/kubernetes-apt-keyring.asc
source_list=/etc/apt/sources.list.d/kubernetes.list
packages=(kubelet kubeadm kubectl)

if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
  dpkg --configure -a
  echo "changed: finished an interrupted package install"
fi

refresh=no
if [ ! -f "$keyring" ] || [ "$(cat "$keyring")" != "$KUB_REPO_KEY" ]; then
  install -d -m 0755 /etc/apt/keyrings
  printf '%s\n' "$KUB_REPO_KEY" > "$keyring"
  chmod 0644 "$keyring"
  echo "changed: wrote $keyring"
  refresh=yes
fi
line="deb [signed-by=$keyring] $KUB_REPO_URL /"
if [ ! -f "$source_list" ] || [ "$(cat "$source_list")" != "$line" ]; then
  printf '%s\n' "$line" > "$source_list"
  echo "changed: wrote $source_list for Kubernetes $KUB_VERSION"
  refresh=yes
fi

installed_version() {
  # status ?i?: installed, whether held (hi) or not (ii)
  dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null | awk '$1 ~ /^.i/ { print $2 }'
}

missing=no
for p in "${packages[@]}"; do
  case "$(installed_version "$p")" in
    "$KUB_VERSION".*) ;;
    *) missing=yes ;;
  esac
done

if [ "$missing" = yes ]; then
  if [ "$refresh" = yes ] || [ -z "$(apt-cache madison kubeadm 2>/dev/null)" ]; then
    if ! apt-get "${apt_opts[@]}" update >/tmp/kub-apt-update.log 2>&1; then
      echo "error: apt-get update failed: $(grep -E '^(E|Err):' /tmp/kub-apt-update.log | head -n 1)" >&2
      exit 1
    fi
  fi
  version=$(apt-cache madison kubeadm | awk -v minor="$KUB_VERSION" '$3 ~ "^" minor "\\." { print $3 }' |
    sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "error: Kubernetes $KUB_VERSION is not in the package repository $KUB_REPO_URL: set kubernetes_version to a minor it has" >&2
    exit 1
  fi
  apt-get "${apt_opts[@]}" install --allow-change-held-packages --no-install-recommends \
    "${packages[@]/%/=$version}" >/dev/null
  echo "changed: installed ${packages[*]} $version"
fi

for p in "${packages[@]}"; do
  if ! apt-mark showhold "$p" | grep -qx "$p"; then
    apt-mark hold "$p" >/dev/null
    echo "changed: held $p"
  fi
done
if ! systemctl is-enabled --quiet kubelet; then
  systemctl enable --quiet kubelet
  echo "changed: enabled kubelet"
fi
