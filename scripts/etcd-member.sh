#!/usr/bin/env bash
# On a healthy master: removes the etcd member whose peer URL is KUB_PEER_URL (a master that is lost, or about to be
# joined again from scratch), so that it can join anew. Nothing is done when there is no such member. With etcd's own
# client (etcd-client) and the API server's client certificate of this master.
# Env: KUB_PEER_URL. Prints `changed: ...` (KUB_DRY_RUN=yes: `would: ...`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pki=/etc/kubernetes/pki
etcdctl() {
  ETCDCTL_API=3 command etcdctl --endpoints https://127.0.0.1:2379 --cacert "$pki/etcd/ca.crt" \
    --cert "$pki/apiserver-etcd-client.crt" --key "$pki/apiserver-etcd-client.key" --command-timeout 10s "$@"
}

command -v etcdctl >/dev/null || fail "etcdctl is not installed here: run install again, which installs etcd-client"
members=$(etcdctl member list 2>&1) ||
  fail "etcd does not answer here ($(tail -n 1 <<< "$members")): the cluster's etcd may have lost quorum; bring its masters back, or restore it from a backup"
# member list: `id, started, name, peer URLs, client URLs, learner`
id=$(awk -F', ' -v url="$KUB_PEER_URL" '$4 == url { print $1 }' <<< "$members")
[ -n "$id" ] || exit 0
name=$(awk -F', ' -v id="$id" '$1 == id { print $3 }' <<< "$members")
if ! dry_run; then
  out=$(etcdctl member remove "$id" 2>&1) ||
    fail "etcd refused to remove member ${name:-$id} ($KUB_PEER_URL): $(tail -n 1 <<< "$out")"
fi
changed "removed etcd member ${name:-$id} ($KUB_PEER_URL), to join it anew"
