#!/usr/bin/env bash
# Development certificates for Compose and a local PostgreSQL, made with `confmgr pki`
# (rcgen, no OpenSSL):
#
#   ca.pem, ca-key.pem                      the development CA (trust ca.pem)
#   server.pem, server-key.pem,             TLS server certificate for localhost, 127.0.0.1,
#     server-chain.pem                      ::1 and the Compose services `postgres` and
#                                           `confmgr`; serve server-chain.pem (leaf + CA)
#   postgres-client{,-key,-chain}.pem       PostgreSQL client certificate, CN = confmgr
#                                           (the database user, for `cert` authentication)
#   api-client{,-key,-chain}.pem            client certificate for the ConfMgr API
#
# Usage: scripts/gen_certs.sh [--force] [DIR]     (DIR defaults to ./pki)
#
# Files that exist are kept (run it again safely); --force makes everything anew. When the
# CA is (re)created, every certificate is reissued, since the old ones no longer verify.
# Keys are mode 0600. PostgreSQL also wants its key owned by the server's user: copy or
# chown server-key.pem for the postgres account (uid 999 in the official image) yourself.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

force=0
dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "gen_certs.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *)
            if [ -n "$dir" ]; then
                echo "gen_certs.sh: more than one directory given" >&2
                exit 2
            fi
            dir="$1"
            ;;
    esac
    shift
done
dir="${dir:-./pki}"

if [ -n "${CONFMGR_BIN:-}" ]; then
    confmgr=("$CONFMGR_BIN")
elif command -v confmgr >/dev/null 2>&1; then
    confmgr=(confmgr)
else
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    confmgr=(cargo run -q --manifest-path "$root/Cargo.toml" -p confmgr-cli --)
fi

pki() {
    "${confmgr[@]}" pki "$@" --dir "$dir" --format table
}

# issue NAME ARGS...: `pki issue ARGS --out NAME` unless NAME's files all exist.
issue() {
    local name="$1"
    shift
    if [ "$force" = 0 ] && [ -e "$dir/$name.pem" ] && [ -e "$dir/$name-key.pem" ] \
        && [ -e "$dir/$name-chain.pem" ]; then
        echo "kept $dir/$name.pem (exists; --force to reissue)"
        return
    fi
    # Replace a partial set too: the three files belong together.
    pki issue "$@" --out "$name" --force
    echo
}

if [ "$force" = 1 ] || [ ! -e "$dir/ca.pem" ] || [ ! -e "$dir/ca-key.pem" ]; then
    if [ -e "$dir/ca.pem" ] || [ -e "$dir/ca-key.pem" ]; then
        if [ "$force" = 0 ]; then
            echo "gen_certs.sh: $dir has only half a CA (ca.pem or ca-key.pem is missing):" \
                "remove the other file or pass --force" >&2
            exit 1
        fi
    fi
    pki init --force
    echo
    # Certificates signed by an earlier CA no longer verify: reissue them all.
    force=1
else
    echo "kept $dir/ca.pem (exists; --force for a new CA)"
fi

issue server server \
    --dns localhost --dns postgres --dns confmgr \
    --ip 127.0.0.1 --ip ::1 \
    --cn localhost
issue postgres-client client --cn confmgr
issue api-client client --cn api-client --uri spiffe://confmgr.local/api-client

echo "certificates in $dir"
