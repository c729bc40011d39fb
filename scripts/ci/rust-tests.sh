#!/usr/bin/env bash
# ci.yml's test gate: the workspace's tests with a real PostgreSQL (the test harness starts a
# throwaway cluster with mutual TLS from the server binaries), the hvac client for the
# Vault-compatibility test and moto's KMS emulator, each installed when missing with the
# versions .ci/run pins. Runs as root (uses the postgres account) or as a user with sudo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi
python3 -c 'import hvac' >/dev/null 2>&1 \
    || python3 -m pip install --quiet --disable-pip-version-check 'hvac==2.4.0'
python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1 \
    || python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1'
cargo test --workspace --locked
