#!/usr/bin/env bash
# `just down`: stops the Compose stack and removes its containers, network and volumes (the
# database with them). compose/pki and compose/secrets stay; delete them by hand for a new CA
# and root key (and delete compose/secrets/root-token, which belongs to the removed database).
set -euo pipefail
# shellcheck source=scripts/containers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

compose --profile observability down -v --remove-orphans --timeout 20
rm -f "$root/compose/secrets/root-token"
