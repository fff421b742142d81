#!/usr/bin/env bash
# On a control-plane host: deletes the objects named in KUB_OBJECTS (a YAML stream of apiVersion, kind and
# metadata only, in the order to delete them; kub chose them as its own) and waits until they are gone, at
# most KUB_TIMEOUT seconds. Env: KUB_KUBECONFIG, KUB_OBJECTS, KUB_TIMEOUT.
# Idempotent: objects already gone are skipped; prints `changed: ...` per object deleted.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kubectl=(kubectl --kubeconfig "$KUB_KUBECONFIG")

out=$(printf '%s\n' "$KUB_OBJECTS" |
  "${kubectl[@]}" delete -f - --ignore-not-found --wait=true --timeout="${KUB_TIMEOUT}s" 2>&1) ||
  fail "kubectl delete failed: $(kubectl_error "$out")"
kubectl_changes "$out"
