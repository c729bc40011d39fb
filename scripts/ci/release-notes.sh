#!/usr/bin/env bash
# Prints CHANGELOG.md's section for VERSION (the lines under `## [VERSION]` up to the next
# `## [`), the GitHub Release's notes. Fails when the section is missing or empty.
#   scripts/ci/release-notes.sh VERSION       (`Unreleased` for the section in progress)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="${1:?usage: scripts/ci/release-notes.sh VERSION}"
notes="$(awk -v want="## [$version]" '
    index($0, "## [") == 1 { if (found) exit; if (index($0, want) == 1) { found = 1; next } }
    found { print }
' "$root/CHANGELOG.md" | sed -e '/./,$!d')"
if [ -z "$(tr -d '[:space:]' <<<"$notes")" ]; then
    echo "release-notes: CHANGELOG.md has no section '## [$version]' with content" >&2
    exit 1
fi
printf '%s\n' "$notes"
