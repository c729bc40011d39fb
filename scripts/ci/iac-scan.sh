#!/usr/bin/env bash
# ci.yml's IaC and configuration gate: checkov (pinned, in its own venv) on
#   - terraform/                        (skips explained in terraform/.checkov.yaml)
#   - the chart as each environment deploys it: the dev, staging and prod renders of
#     `just deploy-dry-run ENV`           (skips explained in scripts/helm/checkov.yaml)
#   - the Dockerfile and .github/workflows (skips explained in .github/checkov.yaml)
# Every scan runs; the summary names the failures. Nothing is downloaded at run time besides
# checkov's own pinned install on first use.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 2
checkov() { nice -n 10 "$root/scripts/tools/checkov.sh" "$@"; }
failed=()

echo "=== iac-scan: terraform/"
(cd terraform && checkov --config-file .checkov.yaml -d . --compact --quiet) || failed+=(terraform)

for env in dev staging prod; do
    echo "=== iac-scan: the chart as deployed to $env"
    if scripts/ci/deploy-dry-run.sh "$env" >"$root/target/iac-scan-$env.log" 2>&1; then
        checkov --config-file scripts/helm/checkov.yaml -f "target/deploy-dry-run/$env/rendered.yaml" \
            || failed+=("chart ($env)")
    else
        tail -20 "$root/target/iac-scan-$env.log" >&2
        failed+=("chart ($env): deploy-dry-run failed")
    fi
done

echo "=== iac-scan: Dockerfile"
checkov --config-file .github/checkov.yaml --framework dockerfile -f Dockerfile || failed+=(Dockerfile)
echo "=== iac-scan: .github/workflows"
checkov --config-file .github/checkov.yaml --framework github_actions -d .github || failed+=(workflows)

if [ "${#failed[@]}" -gt 0 ]; then
    printf 'iac-scan: FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "iac-scan: passed"
