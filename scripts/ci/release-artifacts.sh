#!/usr/bin/env bash
# Everything a release ships besides the binaries (already in DIST from release-build.sh):
#   DIST/confmgr-VERSION.cdx.json   CycloneDX SBOM of the binaries' crates (sbom.py, schema-checked)
#   DIST/confmgr-VERSION.tgz        the Helm chart, version and appVersion = VERSION
#   DIST/RELEASE_NOTES.md           CHANGELOG.md's section for VERSION
#   DIST/SHA256SUMS                 sha256sum of every file above and every binary
#   scripts/ci/release-artifacts.sh VERSION DIST
# CONFMGR_RELEASE_NOTES_SECTION takes the notes from another section (the dry run uses
# Unreleased). Ends with `sha256sum -c SHA256SUMS`, as a user verifies a download.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
version="${1:?usage: scripts/ci/release-artifacts.sh VERSION DIST}"
dist="${2:?usage: scripts/ci/release-artifacts.sh VERSION DIST}"
fail() { echo "release-artifacts: FAIL: $*" >&2; exit 1; }
scripts/tools/pip-tools.sh helm
mapfile -t binaries < <(cd "$dist" && ls confmgr-server-"$version"-linux-* confmgr-"$version"-linux-* 2>/dev/null)
[ "${#binaries[@]}" -ge 2 ] || fail "no binaries for $version in $dist (scripts/ci/release-build.sh first)"
echo "release-artifacts: binaries: ${binaries[*]}"

SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}" \
    python3 scripts/ci/sbom.py --version "$version" -o "$dist/confmgr-$version.cdx.json" --check \
    || fail "the SBOM is missing or invalid"
python3 scripts/ci/package-chart.py "$version" "$dist" || fail "packaging the chart failed"
scripts/ci/release-notes.sh "${CONFMGR_RELEASE_NOTES_SECTION:-$version}" >"$dist/RELEASE_NOTES.md" \
    || fail "no release notes"

(
    cd "$dist"
    rm -f SHA256SUMS
    find . -maxdepth 1 -type f ! -name 'SHA256SUMS*' ! -name '*.sigstore.json' -printf '%f\n' \
        | LC_ALL=C sort | xargs sha256sum >SHA256SUMS.tmp
    mv SHA256SUMS.tmp SHA256SUMS
    sha256sum --check --strict SHA256SUMS
) || fail "SHA256SUMS does not check"
echo "release-artifacts: $dist:"
ls -l "$dist"
