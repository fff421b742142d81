#!/usr/bin/env bash
# Prints what kub needs to know about a host, one `key=value` per line. Changes nothing.
set -u

# shellcheck source=/dev/null
echo "os_id=$(. /etc/os-release && echo "${ID:-}")"
# shellcheck source=/dev/null
echo "os_version=$(. /etc/os-release && echo "${VERSION_ID:-}")"
echo "arch=$(uname -m)"
echo "hostname=$(hostname)"
# cgroup2fs: cgroup v2; tmpfs: v1 or hybrid
echo "cgroup_fs=$(stat -fc %T /sys/fs/cgroup 2>/dev/null)"
# the containerd kub installed from a release (version and checksums), if any
[ -r "$KUB_CONTAINERD_RECORD" ] && echo "containerd_release=$(head -c 400 "$KUB_CONTAINERD_RECORD")"

# TCP ports in LISTEN state (0A), IPv4 and IPv6
listening=$(awk 'FNR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null |
  while read -r hex; do echo $((16#$hex)); done | sort -nu | tr '\n' ' ')
echo "listening=${listening% }"

# global addresses with their prefix and interface (`dev=address/prefix`): where a virtual IP can live
addresses=$(ip -o addr show scope global 2>/dev/null | awk '{ print $2 "=" $4 }' | tr '\n' ' ')
echo "addresses=${addresses% }"
# kub's load balancer of the API (haproxy and keepalived) is set up here: the port it holds is its own
[ -e "$KUB_API_HAPROXY_UNIT" ] && echo "api_balancer=yes"

for f in /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf; do
  [ -e "$f" ] && echo "has_$(basename "$f" .conf)_conf=yes"
done
# kub's owner mark: `<cluster id> <deployment>/<master node>`
[ -r "$KUB_OWNER_FILE" ] && echo "owner=$(head -n 1 "$KUB_OWNER_FILE" | head -c 400)"
# what this host was initialised or joined with, as kub recorded it
[ -r "$KUB_RECORD_FILE" ] && sed -n 's/^\([a-z_]*\)=/recorded_\1=/p' "$KUB_RECORD_FILE"

# shellcheck disable=SC2086  # one word per package
packages=$(dpkg-query -W -f='${Package}=${Version}=${db:Status-Abbrev}\n' $KUB_PACKAGES $KUB_DEPENDENCIES \
  2>/dev/null | awk -F= '$3 ~ /^.i/ { printf "%s=%s ", $1, $2 }')
echo "packages=${packages% }"

# The cluster CA certificate is public; the caller derives the join pin (sha256 of its public key) from it.
if [ -r /etc/kubernetes/pki/ca.crt ]; then
  echo "ca_cert=$(base64 -w0 /etc/kubernetes/pki/ca.crt)"
fi
