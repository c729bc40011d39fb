#!/usr/bin/env bash
# Everything .ci/run checks for CI/CD and releases (issue 27), one command:
#   scripts/ci/check.sh          (or `just cicd-check`)
#  1. the workflows and every shell script (check-workflows.sh: actionlint, shellcheck,
#     zizmor --offline, the workflow schema, SHA pins, no event data in run:), and checkov on
#     the Dockerfile and the workflows (terraform/ and the chart: infra-check and helm-check)
#  2. the tag and notes checks a release starts with (release-version.sh, release-notes.sh):
#     the workspace version's tag passes only when CHANGELOG.md has its section, another fails
#  3. the deploy smoke test against a local `confmgr-server --dev` (smoke-selftest.sh)
#  4. what a deploy to dev, staging and prod would apply (deploy-dry-run.sh, no cluster)
#  5. the release artifacts built and checked locally (release-dry-run.sh)
# The two clean builds of the reproducibility check take about an hour here and are not part of
# this: `just release-reproducible` (scripts/ci/reproduce.sh). Every step runs; the summary
# names the failures and the exit status is 1 when any failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 2
begin=$SECONDS
failed=()
run() { # NAME COMMAND...
    local name="$1" start=$SECONDS
    shift
    echo "=== cicd-check [$((SECONDS - begin))s]: $name"
    if "$@"; then
        echo "=== cicd-check: ok: $name ($((SECONDS - start)) s)"
    else
        echo "=== cicd-check: FAILED: $name" >&2
        failed+=("$name")
    fi
}

release_checks() {
    local version
    version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
    if scripts/ci/release-version.sh "v$version-not-this" >/dev/null 2>&1; then
        echo "release-version.sh accepted a tag that is not the workspace version" >&2
        return 1
    fi
    if scripts/ci/release-version.sh "$version" >/dev/null 2>&1; then
        echo "release-version.sh accepted a tag without the v" >&2
        return 1
    fi
    scripts/ci/release-notes.sh Unreleased >/dev/null || return 1
    if grep -q "^## \[$version\]" CHANGELOG.md; then
        scripts/ci/release-version.sh "v$version" || return 1
    elif scripts/ci/release-version.sh "v$version" >/dev/null 2>&1; then
        echo "release-version.sh accepted v$version although CHANGELOG.md has no section for it" >&2
        return 1
    else
        echo "release checks: v$version is refused until CHANGELOG.md has its section (as it should)"
    fi
    echo "release checks: tag and notes checks behave"
}

run "workflows and scripts" scripts/ci/check-workflows.sh
run "checkov: Dockerfile and workflows" bash -c \
    'scripts/tools/checkov.sh --config-file .github/checkov.yaml --framework dockerfile -f Dockerfile &&
     scripts/tools/checkov.sh --config-file .github/checkov.yaml --framework github_actions -d .github'
run "release tag and notes checks" release_checks
run "smoke test against a local server" scripts/ci/smoke-selftest.sh
for env in dev staging prod; do
    run "deploy dry run ($env)" scripts/ci/deploy-dry-run.sh "$env"
done
run "release dry run" scripts/ci/release-dry-run.sh

echo "=== cicd-check: $((SECONDS - begin)) s"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'cicd-check: FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "cicd-check: all passed"
