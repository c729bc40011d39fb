#!/usr/bin/env bash
# ci.yml's image gate: the static binaries (musl), the server and CLI images built from them
# with the Dockerfile's final stages, checked against their contract (scripts/containers/
# check-image.sh), then saved as docker archives for the scan and push jobs.
#   scripts/ci/build-images.sh OUT_DIR
# Uses docker (GitHub's runners) or podman (CONTAINER_ENGINE overrides).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:?usage: scripts/ci/build-images.sh OUT_DIR}"
export CONTAINER_ENGINE="${CONTAINER_ENGINE:-$(command -v docker >/dev/null 2>&1 && echo docker || echo podman)}"
server=localhost/confmgr-server:ci
cli=localhost/confmgr-cli:ci
scripts/tools/pip-tools.sh hadolint
nice -n 10 scripts/containers/static.sh
scripts/containers/image.sh "$server" "$cli"
scripts/containers/check-image.sh "$server" "$cli"
mkdir -p "$out"
"$CONTAINER_ENGINE" save -o "$out/confmgr-server.tar" "$server"
"$CONTAINER_ENGINE" save -o "$out/confmgr-cli.tar" "$cli"
git rev-parse HEAD >"$out/COMMIT"
ls -l "$out"
