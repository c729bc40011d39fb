#!/usr/bin/env bash
# ci.yml's fmt and clippy gate, as .ci/run runs them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
