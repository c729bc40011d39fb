#!/usr/bin/env bash
# Seeds a development server with example policies and API clients.
#
#   scripts/seed_clients.sh [--secrets-out FILE]
#
# Server: CONFMGR_ADDR (default http://127.0.0.1:8200), token: CONFMGR_TOKEN (default
# `root`, as in `confmgr-server --dev --dev-root-token root`). Uses `confmgr` from PATH, else
# `cargo run -q -p confmgr-cli --`. Policies are (re)written each run; clients that already
# exist are left alone. The new clients' secrets are printed once (or written to FILE, 0600).
# For development servers only.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
export CONFMGR_ADDR="${CONFMGR_ADDR:-http://127.0.0.1:8200}"
export CONFMGR_TOKEN="${CONFMGR_TOKEN:-root}"

secrets_out=()
case "${1:-}" in
    "") ;;
    --secrets-out)
        [ -n "${2:-}" ] || { echo "usage: $0 [--secrets-out FILE]" >&2; exit 2; }
        secrets_out=(--secrets-out "$2")
        ;;
    *) echo "usage: $0 [--secrets-out FILE]" >&2; exit 2 ;;
esac

if command -v confmgr >/dev/null 2>&1; then
    confmgr=(confmgr)
else
    confmgr=(cargo run -q --manifest-path "$root/Cargo.toml" -p confmgr-cli --)
fi
cm() { "${confmgr[@]}" "$@"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cm status --format table >/dev/null

# Applications read their own configuration.
cm policy write app-read - --format table <<'HCL'
path "secret/data/app/*" {
  capabilities = ["read"]
}
path "secret/metadata/app/*" {
  capabilities = ["list"]
}
HCL

# CI pipelines deploy configuration under ci/.
cm policy write ci-deploy - --format table <<'HCL'
path "secret/data/ci/*" {
  capabilities = ["create", "update", "read"]
}
HCL

# Operators manage every secret and the policies.
cm policy write operator - --format table <<'HCL'
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}
path "sys/policies/acl" {
  capabilities = ["list"]
}
path "sys/policies/acl/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
HCL

existing="$(cm client list --format table)"
clients="$tmp/clients.yaml"
: >"$clients"
add_client() { # name, then YAML lines of its settings
    local name="$1"
    shift
    if grep -qx -- "$name" <<<"$existing"; then
        echo "client $name exists; left as it is" >&2
        return
    fi
    printf -- '- name: %s\n' "$name" >>"$clients"
    printf -- '  %s\n' "$@" >>"$clients"
}
add_client example-app 'policies: [app-read]' 'token_ttl: 1h' 'token_max_ttl: 24h'
add_client example-ci 'policies: [ci-deploy]' 'token_ttl: 15m' 'token_max_ttl: 1h' \
    'secret_ttl: 30d'
add_client example-operator 'policies: [operator]' 'token_ttl: 1h' 'token_max_ttl: 8h'

if [ ! -s "$clients" ]; then
    echo "all example clients exist; nothing to create" >&2
    exit 0
fi
cm client import "$clients" "${secrets_out[@]}"
echo "log in as a client: confmgr login --role-id <client_id> --secret-id -" >&2
