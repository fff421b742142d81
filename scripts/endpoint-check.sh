#!/usr/bin/env bash
# How the cluster's API endpoint answers from this host, before kub sets anything up: one word on stdout.
#   answers      a TCP connection to KUB_ENDPOINT_HOST:KUB_ENDPOINT_PORT was taken
#   refused      something at that address refused it (a load balancer without backends may)
#   unreachable  nothing holds that address (no answer to ARP / no route): a free address
#   timeout      no answer within 5 s (a firewall drops it, or no route leads there)
#   unresolved   the name does not resolve
# Env: KUB_ENDPOINT_HOST, KUB_ENDPOINT_PORT. Changes nothing.
set -u
# shellcheck disable=SC2016  # expanded by the inner bash, from its arguments
out=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$KUB_ENDPOINT_HOST" "$KUB_ENDPOINT_PORT" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then echo answers
elif [ "$rc" -eq 124 ]; then echo timeout
elif grep -qi refused <<< "$out"; then echo refused
elif grep -qiE 'no route|unreachable' <<< "$out"; then echo unreachable
elif grep -qiE 'not known|resolv|name' <<< "$out"; then echo unresolved
else echo "timeout"
fi
