#!/usr/bin/env bash
# checkov in a virtualenv of its own (its pins downgrade boto3 and would break moto in the
# system Python), created on first use and reused. Usage: scripts/tools/checkov.sh ARGS...
# CONFMGR_TOOLS_DIR moves the venv (default: ~/.cache/confmgr-tools).
set -euo pipefail
version=3.3.30
venv="${CONFMGR_TOOLS_DIR:-$HOME/.cache/confmgr-tools}/checkov-$version"
if [ ! -x "$venv/bin/checkov" ]; then
    echo "checkov: installing $version into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$version"
fi
exec "$venv/bin/checkov" "$@"
