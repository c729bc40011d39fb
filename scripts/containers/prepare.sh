#!/usr/bin/env bash
# First step of the Compose stack (compose/compose.yaml): certificates, the root key and the
# Grafana admin password, owned by the accounts that read them. Idempotent: files that exist
# are kept (`--force` makes new certificates; the root key is never replaced).
#
#   scripts/containers/prepare.sh [--force]
#
# Makes, under compose/:
#   pki/*.pem            scripts/gen_certs.sh's development CA and certificates
#   pki/postgres/        server-chain.pem, server-key.pem, ca.pem for PostgreSQL, owned by the
#                        postgres user of CONFMGR_POSTGRES_IMAGE (its uid is asked of the image)
#   pki/confmgr/         ca.pem, server-chain.pem, server-key.pem and the PostgreSQL client
#                        certificate (CN confmgr) for the replicas, owned by uid 65532
#   secrets/root.key     32 random bytes, base64, mode 0400, owned by uid 65532
#   secrets/grafana-admin-password
#
# Keys are mode 0600 and must belong to the container's user: run as root (sudo) with Docker
# or rootful podman; with rootless podman the files are chowned through `podman unshare`.
# `confmgr` comes from CONFMGR_BIN, target/static/dist, PATH, or else the CLI image.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
compose_dir="$root/compose"
engine="${CONTAINER_ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}"
cli_image="${CONFMGR_CLI_IMAGE:-localhost/confmgr-cli:dev}"
postgres_image="${CONFMGR_POSTGRES_IMAGE:-postgres:16-bookworm}"
app_uid=65532
force=()
[ "${1:-}" = --force ] && force=(--force)

# chown that works as root, and as a rootless podman user (inside podman's user namespace).
own() {
    if [ "$(id -u)" = 0 ]; then
        chown "$@"
    elif [ "$(basename "$engine")" = podman ]; then
        podman unshare chown "$@"
    else
        echo "prepare.sh: cannot give files to uid $1 without root: run it with sudo" >&2
        exit 1
    fi
}

# The confmgr CLI for gen_certs.sh.
if [ -z "${CONFMGR_BIN:-}" ]; then
    built="$root/target/static/dist/$(uname -m)/confmgr"
    if [ -x "$built" ]; then
        export CONFMGR_BIN="$built"
    elif command -v confmgr >/dev/null 2>&1; then
        CONFMGR_BIN="$(command -v confmgr)"
        export CONFMGR_BIN
    else
        # The CLI image, writing into compose/pki through a bind mount; built first if missing.
        if ! "$engine" image inspect "$cli_image" >/dev/null 2>&1; then
            echo "building $cli_image (the Dockerfile's cli target) for its confmgr pki"
            "$engine" build --target cli -t "$cli_image" "$root"
        fi
        wrapper="$(mktemp)"
        trap 'rm -f "$wrapper"' EXIT
        cat >"$wrapper" <<WRAP
#!/usr/bin/env bash
exec "$engine" run --rm --user "$(id -u):$(id -g)" -v "$compose_dir/pki:$compose_dir/pki" \
    -w "$compose_dir" "$cli_image" "\$@"
WRAP
        chmod +x "$wrapper"
        export CONFMGR_BIN="$wrapper"
    fi
fi

mkdir -p "$compose_dir/pki" "$compose_dir/secrets"
cd "$compose_dir"
bash "$root/scripts/gen_certs.sh" "${force[@]}" pki

# The uid and gid of the PostgreSQL image's postgres user (999 in the official image).
pg_ids="$("$engine" run --rm --user postgres --entrypoint id "$postgres_image" -u):$("$engine" run --rm --user postgres --entrypoint id "$postgres_image" -g)"

copy() { # copy OWNER MODE DIR FILES...
    local owner="$1" mode="$2" dir="$3"
    shift 3
    mkdir -p "pki/$dir"
    for file in "$@"; do
        install -m "$mode" "pki/$file" "pki/$dir/$file.new"
        own "$owner" "pki/$dir/$file.new"
        mv -f "pki/$dir/$file.new" "pki/$dir/$file"
    done
}
copy "$pg_ids" 0600 postgres server-key.pem
copy "$pg_ids" 0644 postgres server-chain.pem ca.pem
copy "$app_uid:$app_uid" 0600 confmgr server-key.pem postgres-client-key.pem
copy "$app_uid:$app_uid" 0644 confmgr server-chain.pem ca.pem postgres-client.pem postgres-client-chain.pem
chmod 0755 pki pki/postgres pki/confmgr
echo "pki/postgres owned by $pg_ids (postgres in $postgres_image), pki/confmgr by $app_uid"

if [ ! -e secrets/root.key ]; then
    umask 077
    head -c 32 /dev/urandom | base64 >secrets/root.key.new
    chmod 0400 secrets/root.key.new
    own "$app_uid:$app_uid" secrets/root.key.new
    mv secrets/root.key.new secrets/root.key
    echo "made secrets/root.key (keep a copy: without it the stack's secrets cannot be read)"
else
    echo "kept secrets/root.key"
fi
if [ ! -e secrets/grafana-admin-password ]; then
    umask 077
    head -c 18 /dev/urandom | base64 >secrets/grafana-admin-password
    # Grafana's image runs as uid 472.
    own 472:0 secrets/grafana-admin-password
    echo "made secrets/grafana-admin-password"
fi
