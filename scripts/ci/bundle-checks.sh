#!/usr/bin/env bash
# ci.yml's bundle gate: the Helm chart, the Terraform code and the Nix files, each through its
# own recipe, then what a deploy to each environment would apply (no cluster). Every check
# runs; the summary names the failures.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
scripts/tools/pip-tools.sh just || exit 2
failed=()
for recipe in helm-check infra-check nix-check "deploy-dry-run dev" "deploy-dry-run staging" "deploy-dry-run prod"; do
    echo "=== bundle-checks: just $recipe"
    # shellcheck disable=SC2086 # the recipe and its argument are two words
    just $recipe || failed+=("$recipe")
done
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'bundle-checks: FAILED: just %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "bundle-checks: all passed"
