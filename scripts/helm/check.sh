#!/usr/bin/env bash
# The whole Helm chart check (`just helm-check`, run by .ci/run): helm/confmgr linted, rendered
# and validated with the defaults, each environment's ci/ values (with the values Terraform
# writes) and the fixtures; bad values refused with the right message; checkov; the template
# tests; the README's values table and the doc/ copies up to date. Installs its pinned tools
# when missing (scripts/tools/), downloads nothing else, prints what failed, exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/../.."
helm_dir=scripts/helm
chart=helm/confmgr
newest_lint=1.37.0

"scripts/tools/pip-tools.sh" helm kubernetes-validate pytest pyyaml shellcheck

work="$(mktemp -d "${TMPDIR:-/tmp}/confmgr-helm-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
failures=()
step() { printf '\n== helm-check: %s\n' "$*" >&2; }
fail() { failures+=("$1"); printf 'helm-check: FAILED: %s\n' "$1" >&2; }

step "shellcheck"
shellcheck "$helm_dir"/*.sh || fail "shellcheck $helm_dir/*.sh"

step "chart copies of doc/ files"
for file in grafana-dashboard.json prometheus-alerts.yml; do
    cmp "doc/$file" "$chart/files/$file" || fail "$chart/files/$file differs from doc/$file (cp doc/$file $chart/files/)"
done

step "values table in $chart/README.md"
python3 "$helm_dir/values_table.py" --check || fail "values table (python3 $helm_dir/values_table.py --write)"

# name|values files: the defaults, each environment as the deploy renders it, the fixtures.
variants=("defaults|")
for env in dev staging prod; do
    variants+=("$env|$chart/ci/$env-values.yaml $helm_dir/fixtures/terraform-$env-values.yaml")
done
for fixture in "$helm_dir"/fixtures/*-values.yaml; do
    case "$fixture" in */terraform-*) continue ;; esac
    name="$(basename "$fixture" -values.yaml)"
    variants+=("$name|$fixture")
done

mkdir -p "$work/rendered"
for variant in "${variants[@]}"; do
    name="${variant%%|*}"
    files=()
    for file in ${variant#*|}; do files+=(-f "$file"); done
    step "lint, render and validate: $name"
    python3 "$helm_dir/lint.py" "${files[@]}" --kube-version 1.28.0 --kube-version "$newest_lint" \
        || fail "helm lint --strict ($name)"
    if python3 "$helm_dir/render.py" "${files[@]}" -o "$work/rendered/$name.yaml"; then
        "$helm_dir/validate.sh" "$work/rendered/$name.yaml" || fail "kubernetes-validate ($name)"
    else
        fail "render ($name)"
    fi
done

step "bad values are refused at install"
for bad in "$helm_dir"/bad-values/*.yaml; do
    expect="$(sed -n '1s/^# expect: //p' "$bad")"
    [ -n "$expect" ] || { fail "$bad: first line must be '# expect: MESSAGE'"; continue; }
    if python3 "$helm_dir/render.py" -f "$bad" -o "$work/bad.yaml" 2>"$work/bad.err"; then
        fail "$bad was accepted (expected: $expect)"
    elif grep -qF -- "$expect" "$work/bad.err"; then
        echo "helm-check: $(basename "$bad") refused: $expect" >&2
    else
        fail "$bad refused with another message than '$expect':"
        cat "$work/bad.err" >&2
    fi
done

step "checkov (kubernetes framework; skips and reasons: $helm_dir/checkov.yaml)"
nice -n 10 scripts/tools/checkov.sh --config-file "$helm_dir/checkov.yaml" -d "$work/rendered" \
    || fail "checkov on the rendered objects"

step "template tests"
nice -n 10 python3 -m pytest -q -p no:cacheprovider "$helm_dir/tests" || fail "pytest $helm_dir/tests"

if [ "${#failures[@]}" -gt 0 ]; then
    printf '\nhelm-check: %d step(s) failed:\n' "${#failures[@]}" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
printf '\nhelm-check: all passed (%d renders)\n' "${#variants[@]}" >&2
