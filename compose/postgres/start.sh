#!/usr/bin/env bash
# PostgreSQL for ConfMgr's Compose stack, on any image with PostgreSQL's server binaries
# (postgres:16-bookworm, or a locally made Debian image): no dependence on the official
# image's entrypoint. Runs as the image's `postgres` user (compose.yaml sets `user:`).
#
#   start.sh [-c NAME=VALUE]...   initdb when PGDATA is empty (role and database `confmgr`
#                       for certificate login), then run the server: TLS only, client
#                       certificates only (`hostssl ... cert clientcert=verify-full`), no
#                       password anywhere; arguments are passed on to `postgres`
#   start.sh health     exit 0 once the server accepts connections (the healthcheck)
#
# Files: /pki/server-chain.pem, /pki/server-key.pem (owned by postgres, mode 0600) and
# /pki/ca.pem (checks client certificates); scripts/containers/prepare.sh puts them there.
# Started as root instead (the test harness, which copies the files in as root), it gives a
# copy of them to postgres and drops to that user with setpriv.
# Settings: PGDATA (default /var/lib/postgresql/confmgr), CONFMGR_DB_USER (confmgr, which must
# equal the client certificate's CN), CONFMGR_DB_NAME (confmgr), CONFMGR_DB_ROLE_OPTIONS
# (LOGIN; the test harness adds SUPERUSER to create a database per test), CONFMGR_PKI_DIR (/pki).
set -euo pipefail

export PGDATA="${PGDATA:-/var/lib/postgresql/confmgr}"
db_user="${CONFMGR_DB_USER:-confmgr}"
db_name="${CONFMGR_DB_NAME:-confmgr}"
role_options="${CONFMGR_DB_ROLE_OPTIONS:-LOGIN}"
pki="${CONFMGR_PKI_DIR:-/pki}"
socket_dir=/tmp

# The server binaries: on PATH (the official image), else Debian's versioned directory.
bindir=""
if ! command -v postgres >/dev/null 2>&1; then
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/postgres" ] && bindir="$dir"
    done
    if [ -z "$bindir" ]; then
        echo "start.sh: no PostgreSQL server binaries (postgres, initdb) on PATH or under /usr/lib/postgresql/*/bin" >&2
        exit 1
    fi
    PATH="$bindir:$PATH"
fi

if [ "${1:-}" = health ]; then
    if command -v pg_isready >/dev/null 2>&1; then
        # As the local superuser over the socket (peer): no failed login in the log.
        exec pg_isready -q -h "$socket_dir" -p 5432 -d postgres -U postgres
    fi
    # No client tools in the image: a TCP connection to the listener is the best sign left.
    exec 3<>/dev/tcp/127.0.0.1/5432
fi

if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root and wants its key owned by its own user.
    owned=/run/confmgr-pki
    mkdir -p "$owned" "$(dirname "$PGDATA")"
    install -o postgres -g postgres -m 0644 "$pki/server-chain.pem" "$pki/ca.pem" "$owned/"
    install -o postgres -g postgres -m 0600 "$pki/server-key.pem" "$owned/"
    chown postgres:postgres "$(dirname "$PGDATA")"
    export CONFMGR_PKI_DIR="$owned"
    exec setpriv --reuid=postgres --regid=postgres --init-groups bash "$0" "$@"
fi
for file in "$pki/server-chain.pem" "$pki/server-key.pem" "$pki/ca.pem"; do
    if [ ! -r "$file" ]; then
        echo "start.sh: $file is missing or unreadable for $(id -un) (run scripts/containers/prepare.sh)" >&2
        exit 1
    fi
done

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    # Made beside PGDATA and moved into place once complete: a failed first start leaves
    # nothing half-made behind.
    fresh="$PGDATA.initdb"
    rm -rf "$fresh"
    echo "start.sh: initdb in $PGDATA"
    # Local superuser access only through the socket, as this OS user (peer); no password is set.
    initdb --pgdata="$fresh" --username=postgres --auth-local=peer --auth-host=reject \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
        || initdb --pgdata="$fresh" --username=postgres --auth-local=peer --auth-host=reject \
            --encoding=UTF8 --locale=C >/dev/null
    # Single-user mode, one statement per line: no listener is open while the role and the
    # database are made. It reports errors on stderr but exits 0, so look for them.
    if ! output="$(postgres --single -D "$fresh" postgres 2>&1 <<SQL
CREATE ROLE "$db_user" $role_options;
CREATE DATABASE "$db_name" OWNER "$db_user";
SQL
    )" || grep -q 'ERROR' <<<"$output"; then
        echo "$output" >&2
        echo "start.sh: could not make role and database $db_user / $db_name" >&2
        exit 1
    fi
    rm -rf "$PGDATA"
    mv "$fresh" "$PGDATA"
    echo "start.sh: made role and database $db_user / $db_name (certificate login only)"
fi

# Written on every start, so the rules in this file are the rules in force.
cat >"$PGDATA/pg_hba.conf" <<HBA
# Managed by compose/postgres/start.sh: rewritten on every start.
# TYPE    DATABASE  USER       ADDRESS     METHOD
local     all       postgres               peer
hostssl   all       all        0.0.0.0/0   cert clientcert=verify-full
hostssl   all       all        ::/0        cert clientcert=verify-full
# No "host" line: plain TCP is refused. No password method: certificates only.
HBA

exec postgres -D "$PGDATA" \
    -c listen_addresses='*' \
    -c port=5432 \
    -c unix_socket_directories="$socket_dir" \
    -c ssl=on \
    -c "ssl_cert_file=$pki/server-chain.pem" \
    -c "ssl_key_file=$pki/server-key.pem" \
    -c "ssl_ca_file=$pki/ca.pem" \
    -c ssl_min_protocol_version=TLSv1.2 \
    -c password_encryption=scram-sha-256 \
    -c "hba_file=$PGDATA/pg_hba.conf" \
    "$@"
