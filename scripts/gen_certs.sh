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
# Usage: scripts/gen_certs.sh [--force] [--postgres-dir PGDIR [--postgres-user USER]] [DIR]
#        (DIR defaults to ./pki)
#
# Needs the confmgr CLI: CONFMGR_BIN if set, else `confmgr` on PATH (build it with
# `cargo build -p confmgr-cli`: target/debug/confmgr). Without either it stops.
#
# Files that exist are kept (run it again safely); --force makes everything anew. When the
# CA is (re)created, every certificate is reissued, since the old ones no longer verify.
#
# DIR is private: `confmgr pki` creates it with mode 0700 and the keys with mode 0600, owned
# by whoever runs this, so the PostgreSQL server's account can read nothing in it. PostgreSQL
# wants its own copies: --postgres-dir PGDIR (as root, or with sudo) copies
#   server-chain.pem -> PGDIR/server.crt (0644), server-key.pem -> PGDIR/server.key (0600),
#   ca.pem -> PGDIR/ca.pem (0644)
# owned by the postgres account (--postgres-user USER to name another), creating PGDIR with
# mode 0700 for that account if it is missing (the data directory is a good place: then
# ssl_cert_file = 'server.crt', ssl_key_file = 'server.key', ssl_ca_file = 'ca.pem' in
# postgresql.conf). PostgreSQL refuses a key that is not owned by its account or that group
# or others can read. ConfMgr itself reads ca.pem and postgres-client*.pem from DIR.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

force=0
dir=""
postgres_dir=""
postgres_user=postgres
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        --postgres-dir | --postgres-user)
            if [ $# -lt 2 ] || [ -z "$2" ]; then
                echo "gen_certs.sh: $1 needs a value" >&2
                exit 2
            fi
            if [ "$1" = --postgres-dir ]; then postgres_dir="$2"; else postgres_user="$2"; fi
            shift
            ;;
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
    if [ ! -x "$CONFMGR_BIN" ]; then
        echo "gen_certs.sh: CONFMGR_BIN=$CONFMGR_BIN is not an executable file" >&2
        exit 1
    fi
    confmgr="$CONFMGR_BIN"
elif command -v confmgr >/dev/null 2>&1; then
    confmgr=confmgr
else
    echo "gen_certs.sh: the confmgr CLI is not on PATH: build it (cargo build -p confmgr-cli)" \
        "and set CONFMGR_BIN=target/debug/confmgr, or put it on PATH" >&2
    exit 1
fi

if [ -n "$postgres_dir" ] && ! id "$postgres_user" >/dev/null 2>&1; then
    echo "gen_certs.sh: --postgres-dir: there is no account $postgres_user" \
        "(name PostgreSQL's account with --postgres-user)" >&2
    exit 1
fi

pki() {
    "$confmgr" pki "$@" --dir "$dir" --format table
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

if [ -n "$postgres_dir" ]; then
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    group="$(id -gn "$postgres_user")"
    if [ ! -d "$postgres_dir" ]; then
        as_root install -d -o "$postgres_user" -g "$group" -m 700 "$postgres_dir"
    fi
    as_root install -o "$postgres_user" -g "$group" -m 600 "$dir/server-key.pem" \
        "$postgres_dir/server.key"
    as_root install -o "$postgres_user" -g "$group" -m 644 "$dir/server-chain.pem" \
        "$postgres_dir/server.crt"
    as_root install -o "$postgres_user" -g "$group" -m 644 "$dir/ca.pem" "$postgres_dir/ca.pem"
    echo "gave PostgreSQL (account $postgres_user) $postgres_dir/server.crt, server.key (0600)" \
        "and ca.pem: ssl_cert_file = 'server.crt', ssl_key_file = 'server.key'," \
        "ssl_ca_file = 'ca.pem' when $postgres_dir is the data directory"
fi
