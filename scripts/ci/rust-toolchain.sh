#!/usr/bin/env bash
# Installs the Rust toolchain rust-toolchain.toml pins (clippy, rustfmt), and with `musl` the
# ARCH-unknown-linux-musl target of this machine plus musl-gcc, for the static binaries.
#   scripts/ci/rust-toolchain.sh [musl]
# The workflows name the same version in RUST_TOOLCHAIN: this fails when the two disagree.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pinned="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$root/rust-toolchain.toml")"
[ -n "$pinned" ] || { echo "rust-toolchain: no channel in rust-toolchain.toml" >&2; exit 1; }
if [ -n "${RUST_TOOLCHAIN:-}" ] && [ "$RUST_TOOLCHAIN" != "$pinned" ]; then
    echo "rust-toolchain: RUST_TOOLCHAIN=$RUST_TOOLCHAIN but rust-toolchain.toml pins $pinned" >&2
    exit 1
fi
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup run "$pinned" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$pinned" --profile minimal --component clippy,rustfmt
fi
if [ "${1:-}" = musl ]; then
    target="$(uname -m)-unknown-linux-musl"
    rustup target list --installed --toolchain "$pinned" | grep -qx "$target" \
        || rustup target add --toolchain "$pinned" "$target"
    if ! command -v musl-gcc >/dev/null 2>&1; then
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq musl-tools >/dev/null
    fi
    # The cc crate compiles the C parts (SQLite, ring, mimalloc) with musl-gcc.
    if [ -n "${GITHUB_ENV:-}" ]; then
        echo "CC_$(uname -m)_unknown_linux_musl=musl-gcc" >>"$GITHUB_ENV"
    fi
fi
rustup run "$pinned" rustc --version
