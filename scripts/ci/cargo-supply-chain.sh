#!/usr/bin/env bash
# ci.yml's dependency gate: cargo-deny (licenses, bans, sources as deny.toml says, and
# advisories) and cargo-audit (RustSec advisories for Cargo.lock), pinned versions installed
# with `cargo install --locked` when missing. Both fetch the RustSec advisory database from
# GitHub at run time, so this gate runs on GitHub's runners, not on the development machines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deny_version=0.20.2
audit_version=0.22.2
installed() { "$1" --version 2>/dev/null | grep -q " $2\$"; }
installed cargo-deny "$deny_version" || cargo install --locked "cargo-deny@$deny_version"
installed cargo-audit "$audit_version" || cargo install --locked "cargo-audit@$audit_version"
status=0
echo "=== cargo deny check (deny.toml)"
cargo deny --locked check || status=1
echo "=== cargo audit (Cargo.lock)"
cargo audit --deny warnings || status=1
[ "$status" = 0 ] || { echo "cargo-supply-chain: FAILED (see above)" >&2; exit 1; }
echo "cargo-supply-chain: passed"
