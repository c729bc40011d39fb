#!/usr/bin/env bash
# Pushes the packaged chart (DIST/confmgr-VERSION.tgz, from release-artifacts.sh) to GHCR as
# the OCI artifact oci://ghcr.io/OWNER/charts/confmgr:VERSION and signs its digest with cosign
# keyless. Users: helm install confmgr oci://ghcr.io/OWNER/charts/confmgr --version VERSION
#   scripts/ci/release-chart.sh VERSION DIST       (in release.yml; helm 3.8+)
set -euo pipefail
version="${1:?usage: scripts/ci/release-chart.sh VERSION DIST}"
dist="${2:?usage: scripts/ci/release-chart.sh VERSION DIST}"
: "${GHCR_TOKEN:?GHCR_TOKEN is not set}" "${GITHUB_REPOSITORY_OWNER:?}"
owner="$(tr '[:upper:]' '[:lower:]' <<<"$GITHUB_REPOSITORY_OWNER")"
(cd "$dist" && sha256sum --check --strict --ignore-missing SHA256SUMS)
printf '%s' "$GHCR_TOKEN" | helm registry login ghcr.io --username "$owner" --password-stdin
pushed="$(helm push "$dist/confmgr-$version.tgz" "oci://ghcr.io/$owner/charts" 2>&1)"
echo "$pushed"
digest="$(sed -n 's/^Digest: //p' <<<"$pushed")"
[ -n "$digest" ] || { echo "release-chart: helm push printed no digest" >&2; exit 1; }
cosign sign --yes "ghcr.io/$owner/charts/confmgr@$digest"
echo "release-chart: oci://ghcr.io/$owner/charts/confmgr:$version ($digest) pushed and signed"
