#!/usr/bin/env bash
# Stores a secret through the legacy API and prints its secret_id.
#
#   scripts/create_secret.sh [FILE]      # the secret's bytes: FILE, or stdin without one
#
# Any bytes (binary too); they are sent base64-encoded and come back exactly with
# scripts/fetch_secret.sh. Server and token: see scripts/lib/legacy_api.sh
# (CONFMGR_ADDR, CONFMGR_TOKEN unset for CONFMGR_LEGACY_API=open).
set -euo pipefail
# shellcheck source=lib/legacy_api.sh
. "$(dirname "$0")/lib/legacy_api.sh"

case "$#" in
    0) input=/dev/stdin ;;
    1)
        input="$1"
        [ -r "$input" ] && [ ! -d "$input" ] || die 2 "cannot read $input"
        ;;
    *) die 2 "usage: $prog [FILE]" ;;
esac

# Streamed into curl's stdin: the secret never becomes an argument visible in `ps`.
answer="$({
    printf '{"secret": "'
    base64 -w0 <"$input"
    printf '"}'
} | legacy_post /vault/secret/create/)"
printf '%s' "$answer" | json_field secret_id
