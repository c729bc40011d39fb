#!/usr/bin/env bash
# Validates rendered Kubernetes objects (scripts/helm/render.py's output) with
# kubernetes-validate --strict against Kubernetes 1.28 (the chart's oldest) and the newest
# version kubernetes-validate bundles. Unknown fields, wrong types and unknown core kinds fail.
# Custom resources have no bundled schema: objects of the CRD groups the chart uses
# (Prometheus Operator, cert-manager, Gateway API, CloudNativePG) are listed and skipped here;
# scripts/helm/tests/test_crds.py checks their fields. Any other kind without a schema fails.
#   scripts/helm/validate.sh OUT.yaml...
set -euo pipefail
[ "$#" -ge 1 ] || { echo "usage: scripts/helm/validate.sh RENDERED.yaml..." >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../tools/pip-tools.sh" kubernetes-validate

schemas="$(python3 -c 'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')"
newest="$(find "$schemas" -maxdepth 1 -name 'v*-local-strict' -printf '%f\n' \
    | sed -e 's/^v//' -e 's/-local-strict$//' | sort -V | tail -n 1)"
[ -n "$newest" ] || { echo "validate: no bundled schemas under $schemas" >&2; exit 2; }
crd_groups='monitoring\.coreos\.com|cert-manager\.io|gateway\.networking\.k8s\.io|postgresql\.cnpg\.io'

status=0
for version in 1.28.0 "$newest"; do
    for file in "$@"; do
        out="$(kubernetes-validate --strict --quiet -k "$version" "$file" 2>&1)" && rc=0 || rc=$?
        errors="$(grep -v '^WARN .*Couldn'"'"'t find schema for kind' <<<"$out" || true)"
        missing="$(grep '^WARN .*Couldn'"'"'t find schema for kind' <<<"$out" || true)"
        unexpected="$(grep -Ev "api version ($crd_groups)/" <<<"$missing" || true)"
        skipped="$(grep -E "api version ($crd_groups)/" <<<"$missing" || true)"
        if [ -n "$skipped" ]; then
            sed -E 's/^WARN .*kind ([A-Za-z]+) with api version ([^ ]+) .*/validate: skipped \2 \1 (custom resource, no bundled schema)/' <<<"$skipped" | sort | uniq -c >&2
        fi
        if [ "$rc" -ne 0 ] || [ -n "$unexpected" ] || [ -n "$errors" ]; then
            echo "validate: FAILED $file against Kubernetes $version:" >&2
            [ -z "$errors" ] || echo "$errors" >&2
            [ -z "$unexpected" ] || { echo "objects of a kind with no schema and not one of the chart's CRD groups:" >&2; echo "$unexpected" >&2; }
            status=1
        else
            echo "validate: $file is valid for Kubernetes $version (strict)" >&2
        fi
    done
done
exit "$status"
