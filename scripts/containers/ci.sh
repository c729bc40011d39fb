#!/usr/bin/env bash
# Everything CI checks about containers (issue 23), in one entry for .ci/run:
#   scripts/containers/ci.sh        (or `just containers-check`)
#
#  1. podman installed and configured, its Docker API socket up   (setup-podman.sh)
#  2. the PostgreSQL base image, made when podman's storage lacks it (base-image.sh)
#  3. static binaries, built once                                  (static.sh)
#  4. the server and CLI images from those binaries, checked        (image.sh, check-image.sh)
#  5. compose/compose.yaml valid with every profile (observability's images cannot be pulled here)
#  6. the stack up, smoke-tested, down                             (up.sh, smoke.sh, down.sh)
#  7. the storage tests again, with the harness's PostgreSQL in a container through podman
#     (testcontainers): the whole confmgr-store suite and the harness's own tests
# The stack is torn down, and a podman API service this script started is stopped, even when
# a step fails. Runs as root (apt-get, chown). Measured from a fresh clone on a 2-core machine
# shared with other builds: 1922 s in all, of which the LTO build 963 s, images and their
# checks 11 s, stack up + smoke + down 28 s, and the testcontainers step 915 s, nearly all of
# it compiling the debug test binaries, which .ci/run's `cargo test --workspace` has already
# built when this runs after it. Add about 3 min where the base image must be made.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
here="$root/scripts/containers"
begin=$SECONDS
step() { echo "=== containers-ci [$((SECONDS - begin))s]: $*"; }

export CONTAINER_ENGINE=podman
export CONFMGR_POSTGRES_IMAGE="${CONFMGR_POSTGRES_IMAGE:-localhost/confmgr-postgres-base:15-bookworm}"
export CONFMGR_IMAGE="${CONFMGR_IMAGE:-localhost/confmgr-server:ci}"
export CONFMGR_CLI_IMAGE="${CONFMGR_CLI_IMAGE:-localhost/confmgr-cli:ci}"
export DOCKER_HOST=unix:///run/podman/podman.sock
service_pid_file=/run/podman/confmgr-service.pid

step "podman"
service_was_up=0
curl -fsS --max-time 5 --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1 \
    && service_was_up=1
"$here/setup-podman.sh"

cleanup() {
    local status=$?
    step "cleanup (exit status so far: $status)"
    "$here/down.sh" 2>&1 | tail -3 || true
    if [ "$service_was_up" = 0 ] && [ -s "$service_pid_file" ]; then
        kill "$(cat "$service_pid_file")" 2>/dev/null || true
        rm -f "$service_pid_file"
    fi
    step "done, exit $status"
}
trap cleanup EXIT

step "linters: hadolint, shellcheck"
for tool in hadolint shellcheck; do
    command -v "$tool" >/dev/null 2>&1 \
        || python3 -m pip install --quiet --disable-pip-version-check "$tool-py"
done
shellcheck -x scripts/containers/*.sh compose/postgres/start.sh
echo "shellcheck: scripts/containers/*.sh compose/postgres/start.sh clean"

step "PostgreSQL base image $CONFMGR_POSTGRES_IMAGE"
"$here/base-image.sh" "$CONFMGR_POSTGRES_IMAGE"

step "static binaries"
nice -n 10 "$here/static.sh"
cat "target/static/dist/$(uname -m)/BUILD"

step "images $CONFMGR_IMAGE and $CONFMGR_CLI_IMAGE from the static binaries"
"$here/image.sh" "$CONFMGR_IMAGE" "$CONFMGR_CLI_IMAGE"
"$here/check-image.sh" "$CONFMGR_IMAGE" "$CONFMGR_CLI_IMAGE"

step "compose files"
docker-compose -f compose/compose.yaml --profile observability config -q
echo "compose/compose.yaml: valid with the observability profile"

step "stack up"
"$here/down.sh" >/dev/null 2>&1 || true
"$here/up.sh"
step "smoke test"
"$here/smoke.sh"
step "stack down"
"$here/down.sh"

step "storage tests through testcontainers (podman, $CONFMGR_POSTGRES_IMAGE)"
CONFMGR_TEST_CONTAINERS=always CONFMGR_TEST_POSTGRES_IMAGE="$CONFMGR_POSTGRES_IMAGE" \
    cargo test --locked -p confmgr-testkit -p confmgr-store --lib --test it
leftover="$(podman ps -a -q --filter name=confmgr-testpg- | wc -l)"
echo "test containers still present right after the run: $leftover (their watchdogs remove them)"
