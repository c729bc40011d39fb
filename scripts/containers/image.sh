#!/usr/bin/env bash
# Builds ConfMgr's images from binaries built on this machine (no base image is pulled): the
# Dockerfile's final stages `server` and `cli` with `--build-arg BINARIES=host`, over a
# context that holds only the root filesystem scripts/containers/rootfs.sh makes.
#
#   scripts/containers/image.sh [SERVER_IMAGE [CLI_IMAGE]]
#       (default localhost/confmgr-server:dev and localhost/confmgr-cli:dev)
#
# Uses target/static/dist/ARCH (scripts/containers/static.sh; built first when missing) and
# podman when installed, else docker (CONTAINER_ENGINE overrides). podman builds in Docker's
# image format, because the OCI format has no HEALTHCHECK.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
image="${1:-localhost/confmgr-server:dev}"
cli_image="${2:-localhost/confmgr-cli:dev}"
engine="${CONTAINER_ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}"
arch="$(uname -m)"
dist="${CONFMGR_DIST_DIR:-$root/target/static/dist}/$arch"

if [ ! -x "$dist/confmgr-server" ] || [ ! -x "$dist/confmgr" ]; then
    scripts/containers/static.sh "$arch"
fi
context="$root/target/static/image-context"
scripts/containers/rootfs.sh "$context/rootfs" "$dist"

# Labels: the release pipeline sets CONFMGR_IMAGE_VERSION, CONFMGR_GIT_COMMIT and
# CONFMGR_IMAGE_SOURCE (the repository's URL); a local build takes them from Cargo.toml and git.
version="${CONFMGR_IMAGE_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}"
revision="${CONFMGR_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
source_url="${CONFMGR_IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || echo unknown)}"
format=()
[ "$(basename "$engine")" = podman ] && format=(--format docker)
for target in server cli; do
    tag="$image"
    [ "$target" = cli ] && tag="$cli_image"
    "$engine" build "${format[@]}" -f Dockerfile --target "$target" \
        --build-arg BINARIES=host \
        --build-arg "VERSION=$version" \
        --build-arg "REVISION=$revision" \
        --build-arg "SOURCE=$source_url" \
        -t "$tag" "$context"
    echo "image.sh: built $tag ($target) from $dist"
done
