#!/usr/bin/env bash
# Rolls ConfMgr's release in ENV back to the revision deploy.sh noted before its upgrade
# (deploy.yml runs it when the smoke test fails after the upgrade; deploy.sh when helm test
# fails). Without a noted revision it rolls back to the one before the current.
#   scripts/ci/rollback.sh ENV [REVISION]
# Uses the kubeconfig deploy.sh wrote (CONFMGR_DEPLOY_STATE) or KUBECONFIG.
# Database migrations are not undone. A previous release whose binary lacks a migration the
# newer one applied refuses to start (sqlx reports the applied migration as missing), so the
# rollback then fails its --wait: doc/ci-cd.md, "Rolling back", says what to do instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=lib.sh
. scripts/ci/lib.sh
env="$(terraform_env "${1:?usage: scripts/ci/rollback.sh ENV [REVISION]}")"
state_dir="${CONFMGR_DEPLOY_STATE:-${RUNNER_TEMP:-/tmp}/confmgr-deploy-$env}"
[ ! -f "$state_dir/kubeconfig" ] || export KUBECONFIG="$state_dir/kubeconfig"
revision="${2:-$(cat "$state_dir/previous-revision" 2>/dev/null || true)}"
if [ -z "$revision" ]; then
    current="$(helm history "$release" -n "$namespace" --max 1 -o json \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)[-1]["revision"])')"
    if [ "$current" -le 1 ]; then
        echo "rollback $env: revision $current is the first: nothing to roll back to (uninstall by hand if needed)" >&2
        exit 1
    fi
    revision=$((current - 1))
fi
echo "rollback $env: helm rollback $release $revision"
helm rollback "$release" "$revision" -n "$namespace" --wait --timeout 10m
helm history "$release" -n "$namespace" --max 3
echo "rollback $env: back on revision $revision's release"
