#!/usr/bin/env bash
# One architecture's release binaries, built by scripts/containers/static.sh exactly as the
# reproducibility check builds them (remapped paths, SOURCE_DATE_EPOCH = the commit's time,
# CONFMGR_GIT_COMMIT = the commit), copied as OUT/confmgr-server-VERSION-linux-ARCH and
# OUT/confmgr-VERSION-linux-ARCH.
#   scripts/ci/release-build.sh ARCH VERSION OUT
# A release needs the musl target (a static glibc build is refused unless
# CONFMGR_RELEASE_ALLOW_GLIBC=1, which only `just release-dry-run` sets where musl is missing).
# Checks: no build path in the binaries; on the build machine's own architecture, both print
# `VERSION (commit SHORT)` for --version.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
arch="${1:?usage: scripts/ci/release-build.sh ARCH VERSION OUT}"
version="${2:?usage: scripts/ci/release-build.sh ARCH VERSION OUT}"
out="${3:?usage: scripts/ci/release-build.sh ARCH VERSION OUT}"
fail() { echo "release-build: FAIL: $*" >&2; exit 1; }
SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)"
CONFMGR_GIT_COMMIT="$(git rev-parse HEAD)"
export SOURCE_DATE_EPOCH CONFMGR_GIT_COMMIT
dist="$root/target/release-build/dist"
CONFMGR_DIST_DIR="$dist" nice -n 10 scripts/containers/static.sh "$arch"
target="$(sed -n 's/^target=//p' "$dist/$arch/BUILD")"
case "$target" in
    *-linux-musl) ;;
    *) [ "${CONFMGR_RELEASE_ALLOW_GLIBC:-0}" = 1 ] || fail "built for $target, a release ships musl binaries (scripts/ci/rust-toolchain.sh musl)" ;;
esac
mkdir -p "$out"
for bin in confmgr-server confmgr; do
    file="$out/$bin-$version-linux-$arch"
    install -m 0755 "$dist/$arch/$bin" "$file"
    for path in "$root" "${CARGO_HOME:-$HOME/.cargo}"; do
        if grep -qaF "$path" "$file"; then fail "$file holds the build path $path"; fi
    done
    if [ "$arch" = "$(uname -m)" ]; then
        printed="$("$file" --version)"
        case "$printed" in
            *"$version (commit ${CONFMGR_GIT_COMMIT:0:12})"*) ;;
            *) fail "$file --version printed '$printed', wanted '$version (commit ${CONFMGR_GIT_COMMIT:0:12})'" ;;
        esac
        echo "release-build: $printed"
    fi
done
echo "release-build: $arch ($target) -> $out"
