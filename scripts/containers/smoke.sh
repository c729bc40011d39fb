#!/usr/bin/env bash
# `just smoke`: checks the running Compose stack (`just up`) end to end:
#   1. a secret written through each replica reads back through the other;
#   2. after restarting confmgr-1, it still reads the latest version;
#   3. PostgreSQL refuses a plain TCP connection and a TLS one without a client certificate;
#   4. `confmgr audit verify` (the CLI image) passes.
# Needs curl, and the root token in compose/secrets/root-token (up.sh keeps it) or CONFMGR_TOKEN.
set -euo pipefail
# shellcheck source=scripts/containers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ca="$root/compose/pki/ca.pem"
replica_1="https://127.0.0.1:${CONFMGR_PORT_1:-8201}"
replica_2="https://127.0.0.1:${CONFMGR_PORT_2:-8202}"
token="${CONFMGR_TOKEN:-$(cat "$root/compose/secrets/root-token" 2>/dev/null || true)}"
if [ -z "$token" ]; then
    echo "smoke.sh: no root token: set CONFMGR_TOKEN, or start a fresh stack with just up (init prints it once)" >&2
    exit 1
fi
path="smoke/run-$(date +%s)-$$"
step() { echo "smoke: $*"; }
die() { echo "smoke: FAILED: $*" >&2; exit 1; }

api() { # api METHOD URL [BODY]
    curl -sS --fail-with-body --max-time 10 --cacert "$ca" -H "X-Vault-Token: $token" \
        -X "$1" "$2" ${3:+-H 'Content-Type: application/json' -d "$3"}
}
write() { api POST "$1/v1/secret/data/$path" "{\"data\":{\"value\":\"$2\"}}" >/dev/null; }
read_value() {
    api GET "$1/v1/secret/data/$path" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["data"]["value"])'
}

step "write through confmgr-1, read through confmgr-2"
write "$replica_1" one
[ "$(read_value "$replica_2")" = one ] || die "confmgr-2 did not read what confmgr-1 wrote"
step "write through confmgr-2, read through confmgr-1"
write "$replica_2" two
[ "$(read_value "$replica_1")" = two ] || die "confmgr-1 did not read what confmgr-2 wrote"

step "restart confmgr-1, read again"
compose restart confmgr-1 >/dev/null
wait_healthy 90 confmgr-1
[ "$(read_value "$replica_1")" = two ] || die "confmgr-1 lost the latest version after a restart"

step "PostgreSQL refuses plain TCP"
set +e
plain="$(compose exec -T postgres psql "host=127.0.0.1 port=5432 dbname=confmgr user=confmgr sslmode=disable connect_timeout=5" -c 'select 1' 2>&1)"
plain_rc=$?
no_cert="$(compose exec -T postgres psql "host=127.0.0.1 port=5432 dbname=confmgr user=confmgr sslmode=require sslcert=/nonexistent sslkey=/nonexistent connect_timeout=5" -c 'select 1' 2>&1)"
no_cert_rc=$?
set -e
[ "$plain_rc" != 0 ] && [[ "$plain" == *"no encryption"* ]] \
    || die "a plain connection was not refused as expected (exit $plain_rc): $plain"
echo "       $(tail -1 <<<"$plain" | tr -s ' ')"
step "PostgreSQL refuses TLS without a client certificate"
[ "$no_cert_rc" != 0 ] && [[ "$no_cert" == *"certificate"* ]] \
    || die "a connection without a client certificate was not refused (exit $no_cert_rc): $no_cert"
echo "       $(tail -1 <<<"$no_cert" | tr -s ' ')"

step "confmgr audit verify (the CLI image, through confmgr-2)"
"$engine" run --rm --network host -v "$ca:/ca.pem:ro" -e CONFMGR_TOKEN="$token" \
    "$CONFMGR_CLI_IMAGE" --addr "$replica_2" --ca-cert /ca.pem --format json audit verify \
    || die "confmgr audit verify failed"
step "passed"
