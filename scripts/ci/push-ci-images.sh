#!/usr/bin/env bash
# Pushes the images that passed ci.yml's gates on main to GHCR as sha-SHORT (what deploy.yml
# deploys), signs them with cosign keyless (the workflow's OIDC identity) and writes
# image-tag=sha-SHORT, server-digest and cli-digest to $GITHUB_OUTPUT.
#   scripts/ci/push-ci-images.sh DIR      (DIR from scripts/ci/build-images.sh)
# Needs GHCR_TOKEN (the workflow's token with packages: write) and GITHUB_REPOSITORY_OWNER.
set -euo pipefail
dir="${1:?usage: scripts/ci/push-ci-images.sh DIR}"
: "${GHCR_TOKEN:?GHCR_TOKEN is not set}" "${GITHUB_REPOSITORY_OWNER:?GITHUB_REPOSITORY_OWNER is not set}"
owner="$(tr '[:upper:]' '[:lower:]' <<<"$GITHUB_REPOSITORY_OWNER")"
commit="$(cat "$dir/COMMIT")"
tag="sha-${commit:0:12}"
printf '%s' "$GHCR_TOKEN" | docker login ghcr.io --username "$owner" --password-stdin
for name in confmgr-server confmgr-cli; do
    docker load -i "$dir/$name.tar"
    docker tag "localhost/$name:ci" "ghcr.io/$owner/$name:$tag"
    docker push "ghcr.io/$owner/$name:$tag"
    digest="$(docker image inspect --format '{{index .RepoDigests 0}}' "ghcr.io/$owner/$name:$tag")"
    cosign sign --yes "$digest"
    echo "push-ci-images: pushed and signed $digest as $tag"
    [ -z "${GITHUB_OUTPUT:-}" ] || echo "${name#confmgr-}-digest=${digest#*@}" >>"$GITHUB_OUTPUT"
done
[ -z "${GITHUB_OUTPUT:-}" ] || echo "image-tag=$tag" >>"$GITHUB_OUTPUT"
