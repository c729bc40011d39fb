#!/usr/bin/env bash
# End-to-end check of the legacy API: random bytes stored with create_secret.sh (encrypted
# by the server), fetched with fetch_secret.sh, compared byte for byte. Exits 0 and says
# so on a match; on a mismatch prints what differed and exits 1.
#
#   scripts/demo_roundtrip.sh [BYTES]      # default 4096 random bytes
#
# Server and token: see scripts/lib/legacy_api.sh (CONFMGR_ADDR, CONFMGR_TOKEN unset for
# CONFMGR_LEGACY_API=open). Leaves one secret (secret/legacy/<id>) on the server.
set -euo pipefail
here="$(dirname "$0")"
prog="$(basename "$0")"

bytes="${1:-4096}"
[[ "$bytes" =~ ^[0-9]+$ ]] && [ "$#" -le 1 ] || {
    echo "usage: $prog [BYTES]" >&2
    exit 2
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
head -c "$bytes" /dev/urandom >"$tmp/sent"

id="$("$here/create_secret.sh" "$tmp/sent")"
"$here/fetch_secret.sh" "$id" >"$tmp/got"

if cmp -s "$tmp/sent" "$tmp/got"; then
    echo "round trip ok: $bytes bytes stored and fetched back unchanged (secret_id $id)"
    exit 0
fi

describe() { echo "$(wc -c <"$1") bytes, sha256 $(sha256sum <"$1" | cut -d' ' -f1)"; }
{
    echo "$prog: MISMATCH for secret_id $id"
    echo "  sent: $(describe "$tmp/sent")"
    echo "  got:  $(describe "$tmp/got")"
    # cmp names the first differing byte, or which side ended early.
    echo "  first difference: $(cmp "$tmp/sent" "$tmp/got" 2>&1 | head -n 1 | sed "s|$tmp/||g")"
} >&2
exit 1
