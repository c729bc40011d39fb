# shellcheck shell=bash
# Sourced by create_secret.sh and fetch_secret.sh: one POST to the legacy API
# (CONFMGR_LEGACY_API=token|open on the server), failing in one line with the server's
# error text and the confmgr CLI's exit codes:
#   1 error (bad input, server error)   2 usage   3 not found   4 permission denied
#   5 server unreachable or unavailable
#
# Server: CONFMGR_ADDR (default http://127.0.0.1:8200); CONFMGR_CACERT, a CA bundle for
# HTTPS. Token: CONFMGR_TOKEN, sent as X-Vault-Token; leave it unset for an `open` server.

CONFMGR_ADDR="${CONFMGR_ADDR:-http://127.0.0.1:8200}"
prog="$(basename "$0")"

die() {
    local code="$1"
    shift
    echo "$prog: $*" >&2
    exit "$code"
}

for tool in curl base64 python3; do
    command -v "$tool" >/dev/null 2>&1 || die 1 "$tool not found on PATH (install it: apt-get install $tool)"
done

# legacy_post ROUTE: POSTs stdin as the JSON body to ROUTE; prints the response body.
legacy_post() {
    local url="${CONFMGR_ADDR%/}$1" response status body reason
    local args=(-s --max-time 30 -X POST -H 'Content-Type: application/json' --data-binary @-
        -w '\n%{http_code}')
    if [ -n "${CONFMGR_CACERT:-}" ]; then
        args+=(--cacert "$CONFMGR_CACERT")
    fi
    if [ -n "${CONFMGR_TOKEN:-}" ]; then
        # From a file descriptor, not the command line, so the token stays out of `ps`.
        args+=(-H @/dev/fd/3)
    fi
    response="$(curl "${args[@]}" "$url" 3< <(printf 'X-Vault-Token: %s\n' "${CONFMGR_TOKEN:-}"))" || {
        local code=$?
        case "$code" in
            6) reason="cannot resolve the host" ;;
            7) reason="connection refused" ;;
            28) reason="timed out" ;;
            35 | 51 | 58 | 60 | 77 | 83) reason="TLS failed; for a private CA set CONFMGR_CACERT" ;;
            *) reason="curl exit $code" ;;
        esac
        die 5 "cannot reach $CONFMGR_ADDR ($reason); is the server running? CONFMGR_ADDR sets the address"
    }
    status="${response##*$'\n'}"
    body="${response%$'\n'*}"
    case "$status" in
        2??)
            printf '%s' "$body"
            return 0
            ;;
    esac
    # The server answers {"errors": [...]}; anything else is shown as it came, shortened.
    reason="$(printf '%s' "$body" | python3 -c '
import json, sys
text = sys.stdin.read()
try:
    errors = json.loads(text)["errors"]
    print("; ".join(str(e) for e in errors))
except Exception:
    print(" ".join(text.split())[:200])
')"
    case "$status" in
        404) die 3 "HTTP 404 from $url: ${reason:-not found}" ;;
        401 | 403) die 4 "HTTP $status from $url: ${reason:-permission denied}; check CONFMGR_TOKEN and its policies" ;;
        502 | 503 | 504) die 5 "HTTP $status from $url: ${reason:-unavailable}" ;;
        *) die 1 "HTTP $status from $url: ${reason:-error}" ;;
    esac
}

# json_field NAME: the string field NAME of the JSON object on stdin.
json_field() {
    python3 -c '
import json, sys
try:
    value = json.load(sys.stdin).get(sys.argv[1])
except Exception:
    value = None
if not isinstance(value, str):
    sys.exit(1)
print(value)
' "$1" || die 1 "unexpected answer from $CONFMGR_ADDR: no \"$1\" string"
}
