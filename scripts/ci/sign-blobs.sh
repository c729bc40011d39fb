#!/usr/bin/env bash
# Signs every release file in DIST with cosign keyless (Sigstore: a short-lived certificate for
# the workflow's OIDC identity, logged in Rekor) into FILE.sigstore.json bundles, then verifies
# each bundle as a user would: identity release.yml of this repository at a tag, issuer GitHub.
#   scripts/ci/sign-blobs.sh DIST          (in release.yml; needs id-token: write)
set -euo pipefail
dist="${1:?usage: scripts/ci/sign-blobs.sh DIST}"
: "${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}"
identity="^https://github.com/$GITHUB_REPOSITORY/\.github/workflows/release\.yml@refs/tags/v"
issuer=https://token.actions.githubusercontent.com
cosign version
for file in "$dist"/*; do
    case "$file" in *.sigstore.json) continue ;; esac
    cosign sign-blob --yes --bundle "$file.sigstore.json" "$file" >/dev/null
    cosign verify-blob --bundle "$file.sigstore.json" \
        --certificate-identity-regexp "$identity" --certificate-oidc-issuer "$issuer" "$file"
    echo "sign-blobs: signed and verified ${file##*/}"
done
