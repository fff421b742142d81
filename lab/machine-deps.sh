#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the lab and the tests need on this machine, when any is missing.
# One line per problem; nothing is installed when everything is there.
set -euo pipefail

# command -> the package that brings it
declare -A needed=(
  [ip]=iproute2 [tc]=iproute2 [nft]=nftables [unshare]=util-linux [nsenter]=util-linux [mount]=mount
  [chroot]=coreutils [debootstrap]=debootstrap [ssh]=openssh-client [ssh-keygen]=openssh-client
  [openssl]=openssl [gpg]=gnupg [dpkg-deb]=dpkg [dpkg-scanpackages]=dpkg-dev [apt-ftparchive]=apt-utils
  [pkill]=procps [fuser]=psmisc [make]=make [gpgv]=gpgv [umoci]=umoci [skopeo]=skopeo
)
missing=()
for tool in "${!needed[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${needed[$tool]}")
done
python=${BASE_PY:-python3}
"$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# the lab checks Debian's InRelease files with it (containerd/runc release files)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
[ -d /etc/ssl/certs ] && [ -n "$(ls -A /etc/ssl/certs 2>/dev/null)" ] || missing+=(ca-certificates)
[ "${#missing[@]}" -gt 0 ] || exit 0

mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
if ! command -v apt-get >/dev/null; then
  echo "missing: ${packages[*]}: install them with this machine's package manager (the lab needs Debian or Ubuntu tools)" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${packages[*]}: run as root (the lab needs root anyway), or: sudo apt-get install ${packages[*]}" >&2
  exit 2
fi
echo "installing what the lab needs: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
