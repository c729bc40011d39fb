#!/usr/bin/env bash
# Creates the GitHub Release for TAG with CHANGELOG.md's notes and every file of DIST
# (binaries, SHA256SUMS, SBOM, chart, Sigstore bundles), after checking the sums once more.
# A version with a -suffix is marked as a pre-release.
#   scripts/ci/github-release.sh TAG DIST          (in release.yml; GH_TOKEN with contents: write)
set -euo pipefail
tag="${1:?usage: scripts/ci/github-release.sh TAG DIST}"
dist="${2:?usage: scripts/ci/github-release.sh TAG DIST}"
version="${tag#v}"
(cd "$dist" && sha256sum --check --strict SHA256SUMS)
flags=()
case "$version" in *-*) flags+=(--prerelease) ;; esac
gh release create "$tag" "${flags[@]}" --verify-tag --title "ConfMgr $version" \
    --notes-file "$dist/RELEASE_NOTES.md" "$dist"/*
echo "github-release: $tag published with $(find "$dist" -maxdepth 1 -type f | wc -l) files"
