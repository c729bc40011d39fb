#!/usr/bin/env bash
# ci.yml's Nix gate: `nix flake check` on a machine with a working Nix (GitHub's runners with
# cachix/install-nix-action), then the flake's file checks (`just nix-check`, which also runs
# where Nix cannot evaluate, as on the development machines).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v nix >/dev/null 2>&1 || { echo "nix-flake-check: nix is not installed" >&2; exit 1; }
nix --version
nix --extra-experimental-features 'nix-command flakes' flake check --print-build-logs --keep-going
