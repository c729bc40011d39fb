#!/usr/bin/env bash
# The flake checks that run on this machine (`just nix-check`, .ci/run). Nothing here can
# evaluate or build the flake (Debian's nix-bin 2.8 parses only; no binary cache, no source
# downloads): `nix flake check` runs where Nix has network access (doc/nix.md).
#
#   1. every tracked .nix file parses (nix-instantiate --parse, from Debian's nix-bin,
#      installed when missing);
#   2. scripts/nix/check_flake.py: flake.lock matches flake.nix (root inputs, original refs,
#      locked entries, follows arrays), every path the .nix files name exists and is tracked by
#      git, and rust-toolchain.toml, the flake, Cargo.toml's rust-version (<= the toolchain),
#      the Dockerfile's ARG RUST_VERSION and the workflows' RUST_TOOLCHAIN agree;
#   3. the same checker's self-test: broken copies (wrong ref, missing follows, untracked path,
#      version drift, ...) must each fail;
#   4. shellcheck on this directory's scripts, and taplo on the TOML files .taplo.toml lists.
# Exits non-zero, naming what failed, when any step fails. Starts nothing that outlives it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
failed=()

if ! command -v nix-instantiate >/dev/null 2>&1; then
    echo "nix-check: installing Debian's nix-bin (nix-instantiate --parse)"
    if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nix-bin >/dev/null 2>&1; then
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nix-bin >/dev/null
    fi
fi

# 1. Parse.
mapfile -t nix_files < <(git ls-files '*.nix')
if [ "${#nix_files[@]}" -eq 0 ]; then
    echo "nix-check: no tracked .nix files" >&2
    failed+=("parse")
fi
for f in "${nix_files[@]}"; do
    if ! out="$(nix-instantiate --parse "$f" 2>&1 >/dev/null)"; then
        echo "nix-check: $f does not parse: $out" >&2
        failed+=("parse $f")
    fi
done
[ "${#failed[@]}" -gt 0 ] || echo "nix-check: ${#nix_files[@]} .nix files parse ($(nix-instantiate --version))"

# 2. Lock, paths, Rust versions.
python3 scripts/nix/check_flake.py "$root" || failed+=("check_flake.py")

# 3. The checker catches what it claims to.
if ! selftest="$(python3 scripts/nix/check_flake.py --self-test 2>&1)"; then
    printf '%s\n' "$selftest" >&2
    failed+=("check_flake.py --self-test")
else
    echo "nix-check: self-test: $(grep -c ': caught' <<<"$selftest") deliberate faults caught, the unchanged copy passes"
fi

# 4. Shell scripts and TOML formatting (taplo from PyPI, pinned, installed when missing).
scripts/tools/pip-tools.sh shellcheck taplo
shellcheck scripts/nix/*.sh || failed+=("shellcheck scripts/nix")
if ! taplo_out="$(RUST_LOG=warn taplo fmt --check 2>&1)"; then
    printf '%s\n' "$taplo_out" >&2
    echo "nix-check: TOML not formatted as .taplo.toml says: run 'taplo fmt' (files: .taplo.toml's include)" >&2
    failed+=("taplo fmt --check")
else
    echo "nix-check: taplo: the TOML files .taplo.toml lists are formatted"
fi

if [ "${#failed[@]}" -gt 0 ]; then
    echo "nix-check: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "nix-check: OK"
