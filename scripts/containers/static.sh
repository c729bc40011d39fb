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
# The output is reproducible: the same commit gives the same bytes in any directory, on any
# machine with the same Rust (rust-toolchain.toml) and C compiler. Build paths are remapped in
# Rust (--remap-path-prefix: the source tree to /build/confmgr, the target directory to
# /build/target, cargo's home to /cargo) and in C (-ffile-prefix-map, same mapping), so none
# reaches the binary; SOURCE_DATE_EPOCH is the commit's time (for anything that stamps a
# date); CONFMGR_GIT_COMMIT is the commit that `--version` prints (both default from git,
# set them where there is no .git, as the Dockerfile does). scripts/ci/reproduce.sh checks it.
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

# Reproducibility (see above). RUSTFLAGS splits on spaces: the paths must not hold any.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
for dir in "$root" "$CARGO_TARGET_DIR" "$cargo_home"; do
    case "$dir" in *[[:space:]]*) echo "static.sh: '$dir' holds a space; build from a path without one" >&2; exit 2 ;; esac
done
# rustc and gcc apply the last matching mapping, so the target directory (often inside the
# source tree) comes after the source tree.
remap="--remap-path-prefix=$root=/build/confmgr --remap-path-prefix=$CARGO_TARGET_DIR=/build/target --remap-path-prefix=$cargo_home=/cargo"
export CFLAGS="-ffile-prefix-map=$root=/build/confmgr -ffile-prefix-map=$CARGO_TARGET_DIR=/build/target -ffile-prefix-map=$cargo_home=/cargo${CFLAGS:+ $CFLAGS}"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || true)"
fi
if [ -z "${CONFMGR_GIT_COMMIT:-}" ]; then
    CONFMGR_GIT_COMMIT="$(git rev-parse HEAD 2>/dev/null || true)"
fi
[ -n "$SOURCE_DATE_EPOCH" ] && export SOURCE_DATE_EPOCH
[ -n "$CONFMGR_GIT_COMMIT" ] && export CONFMGR_GIT_COMMIT

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
        flags="$remap${RUSTFLAGS:+ $RUSTFLAGS}"
    elif [ "$arch" = "$host_arch" ]; then
        target="$gnu"
        how="static glibc ($gnu with +crt-static; the $musl Rust target is not installed here)"
        flags="$remap${RUSTFLAGS:+ $RUSTFLAGS} -C target-feature=+crt-static"
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
        echo "commit=${CONFMGR_GIT_COMMIT:-unknown}"
        echo "source_date_epoch=${SOURCE_DATE_EPOCH:-unset}"
        for bin in confmgr-server confmgr; do
            echo "size.$bin=$(stat -c %s "$out/$bin")"
            echo "sha256.$bin=$(sha256sum "$out/$bin" | cut -d' ' -f1)"
        done
    } >"$out/BUILD"
    echo "static.sh: $out:"
    ls -l "$out"
    command -v file >/dev/null 2>&1 && file "$out/confmgr-server" "$out/confmgr"
done
