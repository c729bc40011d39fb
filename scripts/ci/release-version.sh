#!/usr/bin/env bash
# Checks a release tag before anything is built: TAG is v + the workspace version of
# Cargo.toml (semver, an optional -prerelease), and CHANGELOG.md has that version's section.
# Writes version=X.Y.Z to $GITHUB_OUTPUT when set.
#   scripts/ci/release-version.sh TAG      e.g. v1.2.3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${1:?usage: scripts/ci/release-version.sh TAG}"
version="${tag#v}"
if [ "$tag" = "$version" ] || ! grep -qE '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$' <<<"$version"; then
    echo "release-version: tag '$tag' is not vMAJOR.MINOR.PATCH[-PRERELEASE]" >&2
    exit 1
fi
cargo_version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/Cargo.toml")"
if [ "$cargo_version" != "$version" ]; then
    echo "release-version: tag $tag but Cargo.toml's workspace version is '$cargo_version': bump it (and commit) before tagging" >&2
    exit 1
fi
"$root/scripts/ci/release-notes.sh" "$version" >/dev/null
echo "release-version: $tag matches Cargo.toml and CHANGELOG.md"
[ -z "${GITHUB_OUTPUT:-}" ] || echo "version=$version" >>"$GITHUB_OUTPUT"
