#!/usr/bin/env bash
# Fully static `confmgr-server` and `confmgr` binaries (cargo profile `release-static`: fat
# LTO, stripped symbols; mimalloc stays the allocator). Used by `just static`, the host-binaries
# image build and CI.
#
#   scripts/containers/static.sh [x86_64|aarch64]...     (default: this machine's architecture)
#
# For each architecture it builds for ARCH-unknown-linux-musl when that Rust target is
# installed (`rustup target add ARCH-unknown-linux-musl`; aarch64 on an x86_64 host also needs
# a cross linker such as aarch64-linux-musl-gcc, named by
# CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER). Without the musl target it falls back to a
# static glibc build of the host target (`-C target-feature=+crt-static`): since glibc 2.34
# the `files` and `dns` name services are part of libc itself, so a static binary resolves
# host names (Compose service names, database hosts) without libnss shared objects.
#
# The binaries land in target/static/dist/ARCH/ (confmgr-server, confmgr, and BUILD saying
# what was built; CONFMGR_DIST_DIR moves it); cargo's own output goes to CARGO_TARGET_DIR
# (default target/static), apart from the debug build's directory so a static build never
# waits on its lock.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/static}"
profile=release-static
host_arch="$(uname -m)"
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=("$host_arch")

installed_targets="$(rustup target list --installed 2>/dev/null || rustc --print target-list 2>/dev/null | grep -x "$(rustc -vV | sed -n 's/^host: //p')" || true)"

for arch in "${arches[@]}"; do
    case "$arch" in
        x86_64 | amd64) arch=x86_64 ;;
        aarch64 | arm64) arch=aarch64 ;;
        *) echo "static.sh: unknown architecture $arch (x86_64 or aarch64)" >&2; exit 2 ;;
    esac
    musl="$arch-unknown-linux-musl"
    gnu="$arch-unknown-linux-gnu"
    if grep -qx "$musl" <<<"$installed_targets"; then
        target="$musl"
        how="musl ($musl)"
        flags="${RUSTFLAGS:-}"
    elif [ "$arch" = "$host_arch" ]; then
        target="$gnu"
        how="static glibc ($gnu with +crt-static; the $musl Rust target is not installed here)"
        flags="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"
    else
        echo "static.sh: $musl is not installed (rustup target add $musl) and a static glibc build works only for this machine's architecture ($host_arch)" >&2
        exit 1
    fi
    echo "static.sh: building $arch: $how"
    RUSTFLAGS="$flags" cargo build --locked --profile "$profile" --target "$target" \
        -p confmgr-server -p confmgr-cli
    out="${CONFMGR_DIST_DIR:-$root/target/static/dist}/$arch"
    mkdir -p "$out"
    for bin in confmgr-server confmgr; do
        cp "$CARGO_TARGET_DIR/$target/$profile/$bin" "$out/$bin.tmp"
        mv "$out/$bin.tmp" "$out/$bin"
        if command -v file >/dev/null 2>&1; then
            description="$(file -b "$out/$bin")"
            case "$description" in
                *"statically linked"* | *"static-pie linked"*) ;;
                *) echo "static.sh: $out/$bin is not statically linked: $description" >&2; exit 1 ;;
            esac
        fi
    done
    {
        echo "target=$target"
        echo "how=$how"
        echo "profile=$profile"
        echo "rustc=$(rustc -V)"
        echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
        for bin in confmgr-server confmgr; do
            echo "size.$bin=$(stat -c %s "$out/$bin")"
        done
    } >"$out/BUILD"
    echo "static.sh: $out:"
    ls -l "$out"
    command -v file >/dev/null 2>&1 && file "$out/confmgr-server" "$out/confmgr"
done
