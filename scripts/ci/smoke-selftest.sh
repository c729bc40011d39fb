#!/usr/bin/env bash
# Proves scripts/ci/smoke.sh on this machine: starts `confmgr-server --dev` on a free port of
# 127.0.0.1 (SQLite in a temporary directory, a fixed root token), then
#   - smoke.sh with that token passes (health, readiness, sys/health, the KV round trip);
#   - smoke.sh with a token the server does not know fails (the KV write is refused);
#   - smoke.sh against the same port once the server has stopped fails.
# The server is stopped and its directory removed however this ends. Uses
# target/debug/confmgr-server (built when missing; CONFMGR_SERVER_BIN names another).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin="${CONFMGR_SERVER_BIN:-$root/target/debug/confmgr-server}"
[ -x "$bin" ] || cargo build --locked -p confmgr-server
work="$(mktemp -d "${TMPDIR:-/tmp}/confmgr-smoke.XXXXXX")"
pid=""
stop() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    pid=""
}
trap 'stop; rm -rf "$work"' EXIT
fail() { echo "smoke-selftest: FAIL: $*" >&2; [ ! -f "$work/server.log" ] || tail -20 "$work/server.log" >&2; exit 1; }

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="cmt.$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))')"
CONFMGR_LISTEN="127.0.0.1:$port" CONFMGR_DATA_DIR="$work/data" CONFMGR_DEV_ROOT_TOKEN="$token" \
    CONFMGR_LOG_FORMAT=json "$bin" --dev >"$work/server.log" 2>&1 &
pid=$!
echo "smoke-selftest: confmgr-server --dev (pid $pid) on 127.0.0.1:$port"

CONFMGR_SMOKE_TOKEN="$token" CONFMGR_SMOKE_WAIT_SECS=60 scripts/ci/smoke.sh "http://127.0.0.1:$port" \
    || fail "smoke.sh failed against a healthy dev server"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
CONFMGR_SMOKE_EXPECT_VERSION="$version" scripts/ci/smoke.sh "http://127.0.0.1:$port" >/dev/null \
    || fail "smoke.sh did not accept the server's own version $version"
if CONFMGR_SMOKE_EXPECT_VERSION="0.0.0-not-this" scripts/ci/smoke.sh "http://127.0.0.1:$port" >/dev/null 2>&1; then
    fail "smoke.sh passed although the expected version differs"
fi
if CONFMGR_SMOKE_TOKEN="cmt.unknown-token" scripts/ci/smoke.sh "http://127.0.0.1:$port" >/dev/null 2>&1; then
    fail "smoke.sh passed with a token the server does not know"
fi
echo "smoke-selftest: ok: wrong version and unknown token both fail"
stop
if CONFMGR_SMOKE_WAIT_SECS=3 scripts/ci/smoke.sh "http://127.0.0.1:$port" >/dev/null 2>&1; then
    fail "smoke.sh passed against a stopped server"
fi
echo "smoke-selftest: ok: fails once the server has stopped"
echo "smoke-selftest: passed"
