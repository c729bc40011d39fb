#!/usr/bin/env bash
# Prints the bytes of a secret stored with scripts/create_secret.sh, exactly (no newline
# added).
#
#   scripts/fetch_secret.sh SECRET_ID > secret.bin
#
# Server and token: see scripts/lib/legacy_api.sh (CONFMGR_ADDR, CONFMGR_TOKEN unset for
# CONFMGR_LEGACY_API=open). An unknown id fails with exit code 3.
set -euo pipefail
# shellcheck source=lib/legacy_api.sh
. "$(dirname "$0")/lib/legacy_api.sh"

[ "$#" -eq 1 ] && [ -n "$1" ] || die 2 "usage: $prog SECRET_ID"
# A UUID needs no JSON escaping; anything else is refused here rather than sent.
[[ "$1" =~ ^[0-9A-Fa-f-]{32,36}$ ]] || die 3 "not a secret_id: expected a UUID such as 1b4e28ba-2fa1-41d2-883f-0016d3cca427"

answer="$(printf '{"secret_id": "%s"}' "$1" | legacy_post /vault/secret/fetch)"
printf '%s' "$answer" | json_field secret | base64 -d
