#!/usr/bin/env bash
# The release, built locally without publishing anything: what release.yml makes for a tag,
# for this machine's architecture, into target/release-dry-run/:
#   static binaries (release-build.sh), SBOM, packaged chart, release notes (CHANGELOG.md's
#   Unreleased section) and SHA256SUMS (release-artifacts.sh)
# then checks them: `sha256sum -c SHA256SUMS`, the SBOM against CycloneDX's schema, the chart
# archive's version, both binaries' --version, no build path inside. Signing, provenance and
# publishing need GitHub's OIDC identity and GHCR: they run only in release.yml.
# Reproducibility: scripts/ci/reproduce.sh (`just release-reproducible`) builds a commit twice
# from clean clones; when it has recorded a result for HEAD and the working tree's sources
# equal HEAD, the binaries built here must have the same SHA-256 as those two builds.
# The static build reuses target/static (the containers check builds it with the same flags).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
begin=$SECONDS
out="$root/target/release-dry-run"
arch="$(uname -m)"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
commit="$(git rev-parse HEAD)"
fail() { echo "release-dry-run: FAIL: $*" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"

echo "=== release-dry-run: binaries ($arch, version $version, commit ${commit:0:12})"
if ! rustup target list --installed 2>/dev/null | grep -qx "$arch-unknown-linux-musl"; then
    echo "release-dry-run: the $arch-unknown-linux-musl target is not installed here: static glibc instead (a release builds musl)"
    export CONFMGR_RELEASE_ALLOW_GLIBC=1
fi
scripts/ci/release-build.sh "$arch" "$version" "$out"

echo "=== release-dry-run: SBOM, chart, notes, SHA256SUMS"
CONFMGR_RELEASE_NOTES_SECTION=Unreleased scripts/ci/release-artifacts.sh "$version" "$out"

echo "=== release-dry-run: checks"
(cd "$out" && sha256sum --check --strict --quiet SHA256SUMS) || fail "sha256sum -c SHA256SUMS"
expected=(
    "confmgr-server-$version-linux-$arch" "confmgr-$version-linux-$arch"
    "confmgr-$version.cdx.json" "confmgr-$version.tgz" RELEASE_NOTES.md
)
for file in "${expected[@]}"; do
    grep -q "  $file\$" "$out/SHA256SUMS" || fail "SHA256SUMS does not list $file"
done
echo "ok: SHA256SUMS lists and checks ${#expected[@]} files"
python3 - "$out/confmgr-$version.cdx.json" <<'PY' || fail "the SBOM lacks the crates Cargo.lock pins for the binaries"
import json, sys
bom = json.load(open(sys.argv[1]))
names = {c["name"] for c in bom["components"]}
missing = {"tokio", "axum", "sqlx", "rustls", "aes-gcm", "confmgr-core"} - names
hashed = sum(1 for c in bom["components"] if c.get("hashes"))
if missing or hashed < 100:
    sys.exit(f"missing {sorted(missing)}, {hashed} components with hashes")
print(f"ok: SBOM: {len(bom['components'])} components, {hashed} with the .crate SHA-256 from Cargo.lock")
PY
head -3 "$out/RELEASE_NOTES.md" | sed 's/^/  notes: /'

record="$root/target/release-reproducible/$commit.sha256"
if [ -f "$record" ]; then
    if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock migrations rust-toolchain.toml scripts/containers/static.sh)" ]; then
        echo "reproducibility: the working tree's sources differ from HEAD: not compared with the clean builds of ${commit:0:12}"
    else
        for bin in confmgr-server confmgr; do
            want="$(sed -n "s/^\([0-9a-f]\{64\}\)  $bin\$/\1/p" "$record")"
            got="$(sha256sum "$out/$bin-$version-linux-$arch" | cut -d' ' -f1)"
            [ "$want" = "$got" ] || fail "$bin: $got here, $want in both clean builds of ${commit:0:12} ($record)"
            echo "ok: reproducible: $bin equals both clean builds of ${commit:0:12} ($got)"
        done
    fi
else
    echo "reproducibility: no clean-build record for ${commit:0:12}; run \`just release-reproducible\` (two clean builds, about an hour here)"
fi
echo "release-dry-run: passed in $((SECONDS - begin)) s; artifacts in $out"
