#!/usr/bin/env bash
# On a control-plane host: applies a workload's objects (KUB_MANIFEST, a YAML stream kub sent on stdin) with
# kubectl, after creating its namespace KUB_NAMESPACE when missing from KUB_NAMESPACE_OBJECT (the Namespace
# object kub rendered, annotated as made by its workload, so only that workload removes it again).
# Env: KUB_KUBECONFIG, KUB_NAMESPACE, KUB_NAMESPACE_OBJECT, KUB_MANIFEST. Idempotent: prints `changed: ...` for
# each object kubectl created or configured. KUB_DRY_RUN=yes: kubectl's server dry run (a client one for what goes
# in a namespace not made yet), `would: ...` lines.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
declare -F changed >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kubectl=(kubectl --kubeconfig "$KUB_KUBECONFIG")

phase=$("${kubectl[@]}" get namespace "$KUB_NAMESPACE" --ignore-not-found -o jsonpath='{.status.phase}' 2>&1) ||
  fail "the API server does not answer: $(tail -n 1 <<< "$phase")"
if [ "$phase" = Terminating ]; then
  fail "namespace $KUB_NAMESPACE is being deleted: wait until it is gone (kubectl get namespace $KUB_NAMESPACE), then run again"
fi
dry_run_as=()
if dry_run; then dry_run_as=(--dry-run="$([ -n "$phase" ] && echo server || echo client)"); fi
if [ -z "$phase" ]; then
  out=$(printf '%s\n' "$KUB_NAMESPACE_OBJECT" | "${kubectl[@]}" create "${dry_run_as[@]}" -f - 2>&1) ||
    fail "creating namespace $KUB_NAMESPACE failed: $(kubectl_error "$out")"
  changed "created namespace $KUB_NAMESPACE"
fi

out=$(printf '%s\n' "$KUB_MANIFEST" | "${kubectl[@]}" apply "${dry_run_as[@]}" -f - 2>&1) ||
  kubectl_failed "$out" "kubectl apply failed"
kubectl_changes "$out"
