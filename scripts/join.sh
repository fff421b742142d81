#!/usr/bin/env bash
# Joins this host to a cluster. The token arrives on stdin (as KUB_JOIN_TOKEN) and goes to kubeadm in a
# root-only file that is removed afterwards: it never shows on a command line.
# Env: KUB_API_ENDPOINT, KUB_CA_HASH, KUB_CRI_SOCKET, KUB_NODE_NAME, KUB_OWNER; secret: KUB_JOIN_TOKEN.
set -euo pipefail
umask 077
install -d -m 0700 /var/lib/kub
config=$(mktemp /var/lib/kub/join.XXXXXX.yaml)
trap 'rm -f "$config"' EXIT
cat > "$config" <<YAML
apiVersion: kubeadm.k8s.io/v1beta3
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: "$KUB_API_ENDPOINT"
    token: "$KUB_JOIN_TOKEN"
    caCertHashes: ["$KUB_CA_HASH"]
nodeRegistration:
  name: "$KUB_NODE_NAME"
  criSocket: "$KUB_CRI_SOCKET"
YAML
# Mark the host as ours before joining, so a re-run after a half-done join may reset it.
printf '%s\n' "$KUB_OWNER" > /var/lib/kub/owner
# kubeadm's output is kept for a look only when the join fails
log=/var/lib/kub/join.log
kubeadm join --config "$config" >"$log" 2>&1 || {
  grep -E '\[ERROR|error execution phase|couldn.t|unable to|timed out' "$log" | head -n 3 >&2
  exit 1
}
rm -f "$log"
echo "changed: joined the cluster at $KUB_API_ENDPOINT"
