#!/usr/bin/env bash
# Smoke test of a running ConfMgr, run by deploy.yml against the environment's URL after
# `helm upgrade` and `helm test` (a failure there rolls the release back):
#   scripts/ci/smoke.sh URL          e.g. https://confmgr.example.com or http://127.0.0.1:8200
#
#  1. GET /healthz answers 200 and GET /readyz answers 200 (storage and audit writable);
#     retried until CONFMGR_SMOKE_WAIT_SECS (default 120) pass, as a rollout settles
#  2. GET /v1/sys/health: initialized, not sealed; its version equals
#     CONFMGR_SMOKE_EXPECT_VERSION when that is set (a release deploy)
#  3. with CONFMGR_SMOKE_TOKEN (a token whose policy allows create, read and delete on
#     secret/data/smoke/* and secret/metadata/smoke/*): a KV v2 round trip: write a random
#     value, read it back, compare, delete the secret with its versions
# CONFMGR_SMOKE_CACERT names a CA bundle for an HTTPS URL whose certificate a private CA signed.
# Needs curl and python3. Exit 0 when all passed, 1 with the failing check named otherwise.
set -euo pipefail
url="${1:?usage: scripts/ci/smoke.sh URL}"
url="${url%/}"
wait_secs="${CONFMGR_SMOKE_WAIT_SECS:-120}"
curl_args=(--silent --show-error --max-time 10)
[ -z "${CONFMGR_SMOKE_CACERT:-}" ] || curl_args+=(--cacert "$CONFMGR_SMOKE_CACERT")
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
status_of() { curl "${curl_args[@]}" -o /dev/null -w '%{http_code}' "$@" 2>/dev/null || true; }

deadline=$((SECONDS + wait_secs))
for path in /healthz /readyz; do
    while :; do
        code="$(status_of "$url$path")"
        [ "$code" = 200 ] && break
        [ "$SECONDS" -lt "$deadline" ] || fail "GET $url$path answered '${code:-no answer}' (wanted 200) for ${wait_secs}s"
        sleep 2
    done
    echo "smoke: ok: GET $path 200"
done

health="$(curl "${curl_args[@]}" --fail "$url/v1/sys/health")" || fail "GET /v1/sys/health failed"
version="$(python3 -c '
import json, sys
body = json.loads(sys.argv[1])
if body.get("initialized") is not True or body.get("sealed") is not False:
    sys.exit("initialized=%r sealed=%r" % (body.get("initialized"), body.get("sealed")))
print(body.get("version", ""))
' "$health")" || fail "/v1/sys/health: $health"
echo "smoke: ok: /v1/sys/health initialized, unsealed, version $version"
if [ -n "${CONFMGR_SMOKE_EXPECT_VERSION:-}" ] && [ "$version" != "$CONFMGR_SMOKE_EXPECT_VERSION" ]; then
    fail "the server runs version $version, the deploy expected $CONFMGR_SMOKE_EXPECT_VERSION"
fi

if [ -z "${CONFMGR_SMOKE_TOKEN:-}" ]; then
    echo "smoke: skipped the KV round trip (no CONFMGR_SMOKE_TOKEN)"
    echo "smoke: passed against $url"
    exit 0
fi
# The token goes to curl through a header file (not the command line, where ps shows it).
headers="$(mktemp)"
trap 'rm -f "$headers"' EXIT
chmod 600 "$headers"
printf 'X-Vault-Token: %s\nContent-Type: application/json\n' "$CONFMGR_SMOKE_TOKEN" >"$headers"
name="smoke/run-$(date -u +%Y%m%dT%H%M%SZ)-$$"
value="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
code="$(status_of -H "@$headers" -X POST --data "{\"data\":{\"value\":\"$value\"}}" "$url/v1/secret/data/$name")"
[ "$code" = 200 ] || fail "writing secret/data/$name answered $code (wanted 200)"
read_back="$(curl "${curl_args[@]}" --fail -H "@$headers" "$url/v1/secret/data/$name")" \
    || fail "reading secret/data/$name back failed"
python3 -c '
import json, sys
got = json.loads(sys.argv[1])["data"]["data"]["value"]
sys.exit(0 if got == sys.argv[2] else "read %r, wrote %r" % (got, sys.argv[2]))
' "$read_back" "$value" || fail "secret/data/$name did not read back what was written"
echo "smoke: ok: KV v2 write and read back secret/$name"
code="$(status_of -H "@$headers" -X DELETE "$url/v1/secret/metadata/$name")"
[ "$code" = 204 ] || [ "$code" = 200 ] || fail "deleting secret/metadata/$name answered $code (wanted 204)"
echo "smoke: ok: deleted secret/$name and its versions"
echo "smoke: passed against $url"
