#!/usr/bin/env bash
# Fill the secret placeholders of a .env template with fresh random values: a thin wrapper
# around `confmgr gen-env` (see doc/cli.md, "confmgr gen-env").
#
# Usage: scripts/gen_env.sh [--template FILE] [--out FILE] [--force] [--format table|json]
#        (defaults: --template .env.example --out .env)
#
# Placeholders: NAME=<secret:alphanumeric:N>, <secret:hex:N> (N bytes), <secret:base64:N>,
# <secret:base64url:N> and <secret:root-key> (base64 of 32 bytes, for CONFMGR_ROOT_KEY).
# The output is written with mode 0600 and an existing file is kept unless --force.
#
# The binary: $CONFMGR_BIN if set, else `confmgr` on PATH, else built from this repository.
set -euo pipefail

case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
esac

if [ -n "${CONFMGR_BIN:-}" ]; then
    exec "$CONFMGR_BIN" gen-env "$@"
elif command -v confmgr >/dev/null 2>&1; then
    exec confmgr gen-env "$@"
else
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    exec cargo run -q --manifest-path "$root/Cargo.toml" -p confmgr-cli -- gen-env "$@"
fi
