#!/usr/bin/env bash
# On a control-plane host: deletes the objects of KUB_DELETES (kub chose them as its own), in that order, each
# only if it still has the uid kub recorded: the API server checks DeleteOptions.preconditions.uid in the same
# step as the delete, so an object someone made again under the same name is never deleted. Then waits until
# the deleted ones are gone, at most KUB_TIMEOUT seconds in all.
# KUB_DELETES: one object a line, fields separated by '|' (a tab would not keep an empty field): its API path, its uid, its resource (kubectl's plural.group),
# its namespace ('' when cluster-scoped), its name, and how kubectl names it (deployment.apps "web").
# Env: KUB_KUBECONFIG, KUB_DELETES, KUB_TIMEOUT. Idempotent: objects already gone are skipped; prints
# `changed: ...` per object deleted and a `note:` per object left because its uid differs. KUB_DRY_RUN=yes: the
# deletes are the API server's dry runs (DeleteOptions.dryRun), `would: ...` lines, and nothing is waited for.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kubectl=(kubectl --kubeconfig "$KUB_KUBECONFIG")
deadline=$((SECONDS + KUB_TIMEOUT))

deleted=()
while IFS='|' read -r path uid resource namespace name label; do
  [ -n "$path" ] || continue
  # what `kubectl delete` sends (background propagation), with the uid kub recorded as a precondition
  options="{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":\"Background\",\"preconditions\":{\"uid\":\"$uid\"}$(
    if dry_run; then echo ',"dryRun":["All"]'; fi)}"
  if out=$(printf '%s' "$options" | "${kubectl[@]}" delete --raw "$path" -f - 2>&1 >/dev/null); then
    changed "$label deleted"
    deleted+=("$resource|$namespace|$name|$label")
  elif grep -q '^Error from server (NotFound)' <<< "$out"; then
    :
  elif grep -q '^Error from server (Conflict)' <<< "$out"; then
    echo "note: $label is not the object kub made (another uid: it was made again since): left as it is"
  else
    fail "deleting $label failed: $(kubectl_error "$out")"
  fi
done <<< "$KUB_DELETES"

dry_run && exit 0
for entry in "${deleted[@]}"; do
  IFS='|' read -r resource namespace name label <<< "$entry"
  remaining=$((deadline - SECONDS > 1 ? deadline - SECONDS : 1))
  out=$("${kubectl[@]}" wait --for=delete "$resource/$name" ${namespace:+-n "$namespace"} --timeout="${remaining}s" 2>&1) ||
    fail "$label was deleted but is still there after ${KUB_TIMEOUT} s: $(kubectl_error "$out") (kubectl get it: its finalizers say what holds it)"
done
