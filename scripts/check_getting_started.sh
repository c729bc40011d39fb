#!/usr/bin/env bash
# Runs the shell blocks of doc/getting-started.md's "## Production" section, literally and in
# order, in one bash session in a fresh directory under /tmp: PostgreSQL from initdb (as the
# postgres account) on a free port, certificates, root key, migrate, init, the server over
# HTTPS on a free port, and the first secret written and read with the CLI and curl. Then it
# checks that the secret reads back, and on any exit stops the server and PostgreSQL and
# removes the directory. Nothing is downloaded.
#
# Usage: scripts/check_getting_started.sh [DOC]     (DOC defaults to doc/getting-started.md)
#
# Needs:
#   - confmgr and confmgr-server, built first (cargo build -p confmgr-server -p confmgr-cli),
#     taken from CONFMGR_BIN_DIR, else target/debug of this checkout
#   - PostgreSQL's server programs (initdb, pg_ctl, postgres, psql): PGBIN, else the newest
#     /usr/lib/postgresql/*/bin (Debian/Ubuntu: apt-get install -y postgresql)
#   - a `postgres` system account; runuser (util-linux) when run as root, as in CI, or sudo
#     rights when run as another user
#   - curl, seq, sed, sort
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
doc="${1:-$root/doc/getting-started.md}"
bin_dir="${CONFMGR_BIN_DIR:-$root/target/debug}"
# Not a server setting: keep it from the server's unknown-variable warning.
unset CONFMGR_BIN_DIR

fail() {
    echo "check_getting_started.sh: $*" >&2
    exit 1
}

for program in confmgr confmgr-server; do
    [ -x "$bin_dir/$program" ] || fail "$bin_dir/$program is missing: run \`cargo build -p confmgr-server -p confmgr-cli\` first, or set CONFMGR_BIN_DIR to the directory holding both"
done
[ -r "$doc" ] || fail "cannot read $doc"
command -v curl >/dev/null || fail "curl is not installed"
id postgres >/dev/null 2>&1 || fail "there is no postgres system account (apt-get install -y postgresql creates it)"
if [ "$(id -u)" = 0 ]; then
    command -v runuser >/dev/null || fail "runuser (util-linux) is needed to run PostgreSQL as postgres"
else
    command -v sudo >/dev/null || fail "sudo is needed to run PostgreSQL as postgres"
fi

# The ```sh blocks between "## Production" and the next "## " heading.
blocks="$(awk '
    /^## / { inside = ($0 == "## Production") }
    inside && /^```sh$/ { block = 1; next }
    block && /^```$/ { block = 0; print ""; next }
    block { print }
' "$doc")"
[ -n "$blocks" ] || fail "no \`\`\`sh blocks in the Production section of $doc"

# A port nothing answers on.
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    fail "no free port found"
}

privileged() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_account() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

# Under /tmp, which the postgres account can pass through.
work="$(mktemp -d /tmp/confmgr-getting-started.XXXXXX)"
home="$work/home"
chmod 711 "$work"
mkdir "$home" "$work/config"
printf '%s\n' "$blocks" > "$work/blocks.sh"

status=1
cleanup() {
    set +e
    if [ -f "$home/server.pid" ]; then
        kill "$(cat "$home/server.pid")" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$(cat "$home/server.pid")" 2>/dev/null || break
            sleep 0.2
        done
    fi
    # PGBIN is the doc's, set by its first block.
    if [ -n "${PGBIN:-}" ] && privileged test -f "$home/pgdata/postmaster.pid"; then
        as_account "$PGBIN/pg_ctl" -D "$home/pgdata" stop -m immediate -w >/dev/null
    fi
    if [ "$status" != 0 ]; then
        echo "check_getting_started.sh: FAILED running the Production section of $doc" >&2
        for log in "$home/server.log" "$home/pgdata/postgres.log"; do
            if privileged test -f "$log"; then
                echo "--- last lines of $log" >&2
                privileged tail -n 30 "$log" >&2
            fi
        done
    fi
    privileged rm -rf "$work"
}
trap cleanup EXIT

# A clean environment for the CLI and the server: nothing from the caller's ConfMgr or Vault
# settings, and the CLI's token file under the work directory.
while IFS= read -r name; do
    unset "$name"
done < <(env | sed -n 's/^\(\(CONFMGR\|VAULT\)_[A-Za-z0-9_]*\)=.*/\1/p')
export XDG_CONFIG_HOME="$work/config"
export PATH="$bin_dir:$PATH"
PGPORT="$(free_port)"
API_PORT="$(free_port)"
while [ "$API_PORT" = "$PGPORT" ]; do API_PORT="$(free_port)"; done
export PGPORT API_PORT

echo "check_getting_started.sh: running the Production blocks of $doc in $home" \
    "(PostgreSQL on port $PGPORT, HTTPS on port $API_PORT)"
cd "$home"
# shellcheck source=/dev/null
. "$work/blocks.sh"

# What the section promises: the secret reads back over HTTPS, with the CLI and with curl.
got="$(confmgr kv get app/prod/db --field password)"
[ "$got" = "s3cr3t" ] || fail "confmgr kv get app/prod/db --field password gave '$got', not s3cr3t"
body="$(curl -sS --cacert "$home/pki/ca.pem" -H "X-Vault-Token: $ROOT_TOKEN" \
    "https://127.0.0.1:$API_PORT/v1/secret/data/app/prod/db")"
case "$body" in
    *'"password":"s3cr3t"'*) ;;
    *) fail "curl read back: $body" ;;
esac
grep -q 'listening (https)' "$home/server.log" || fail "the server did not listen over HTTPS"
# SSL_CERT_FILE pins PostgreSQL's trust to the CA: no system CA besides it is counted.
if grep -q 'system_roots=' "$home/server.log"; then
    fail "PostgreSQL trust is not pinned to pki/ca.pem: $(grep 'system_roots=' "$home/server.log")"
fi
status=0
echo "check_getting_started.sh: OK"
