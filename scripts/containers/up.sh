#!/usr/bin/env bash
# `just up`: the Compose stack (compose/compose.yaml) up and healthy.
#
#   scripts/containers/up.sh [--profile observability]
#
# Builds the images from host binaries when they are missing (scripts/containers/image.sh),
# makes certificates and the root key (scripts/containers/prepare.sh), starts the stack and
# waits until both replicas are healthy. On a fresh database the init service prints the root
# token once; it is also kept in compose/secrets/root-token (mode 0600) for `just smoke`.
# CONFMGR_POSTGRES_IMAGE picks the PostgreSQL image (default postgres:16-bookworm).
set -euo pipefail
# shellcheck source=scripts/containers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! "$engine" image inspect "$CONFMGR_IMAGE" >/dev/null 2>&1 \
    || ! "$engine" image inspect "$CONFMGR_CLI_IMAGE" >/dev/null 2>&1; then
    "$root/scripts/containers/image.sh" "$CONFMGR_IMAGE" "$CONFMGR_CLI_IMAGE"
fi
"$root/scripts/containers/prepare.sh"

compose "$@" up -d --no-build &
up_pid=$!
drive_healthchecks "$up_pid" &
driver=$!
status=0
wait "$up_pid" || status=$?
kill "$driver" 2>/dev/null || true
wait "$driver" 2>/dev/null || true
if [ "$status" != 0 ]; then
    echo "up.sh: compose up failed (exit $status)" >&2
    compose ps >&2 || true
    compose logs --tail 30 >&2 || true
    exit "$status"
fi
wait_healthy 120 confmgr-1 confmgr-2

token_file="$root/compose/secrets/root-token"
token="$(compose logs --no-color init 2>/dev/null | sed -n 's/.*Root token (shown once; store it safely): \([^ ]*\).*/\1/p' | tail -1 | tr -d '\r')"
if [ -n "$token" ] && [ ! -s "$token_file" ]; then
    (umask 077 && printf '%s\n' "$token" >"$token_file")
    echo "up.sh: the root token init printed is in $token_file (development stack only)"
fi
compose ps
echo "up.sh: replicas on https://127.0.0.1:${CONFMGR_PORT_1:-8201} and https://127.0.0.1:${CONFMGR_PORT_2:-8202} (CA compose/pki/ca.pem)"
