#!/usr/bin/env bash
# The release's images, from the release binaries (no compiler in the image build): for each
# architecture the Dockerfile's `server` and `cli` stages over a root filesystem made by
# scripts/containers/rootfs.sh, pushed by digest; then one multi-arch index per image tagged
# VERSION, MAJOR.MINOR, MAJOR (not for pre-releases) and sha-SHORT, signed with cosign keyless
# (index and per-platform manifests). Writes server-digest and cli-digest (the indexes) to
# $GITHUB_OUTPUT for the provenance attestations.
#   scripts/ci/release-images.sh VERSION DIST      (in release.yml; docker with buildx)
# Needs GHCR_TOKEN (packages: write), GITHUB_REPOSITORY, GITHUB_REPOSITORY_OWNER.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
version="${1:?usage: scripts/ci/release-images.sh VERSION DIST}"
dist="${2:?usage: scripts/ci/release-images.sh VERSION DIST}"
: "${GHCR_TOKEN:?GHCR_TOKEN is not set}" "${GITHUB_REPOSITORY:?}" "${GITHUB_REPOSITORY_OWNER:?}"
owner="$(tr '[:upper:]' '[:lower:]' <<<"$GITHUB_REPOSITORY_OWNER")"
commit="$(git rev-parse HEAD)"
epoch="$(git log -1 --format=%ct)"
work="$(mktemp -d)"
builder="confmgr-release-$$"
cleanup() { docker buildx rm "$builder" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

printf '%s' "$GHCR_TOKEN" | docker login ghcr.io --username "$owner" --password-stdin
docker buildx create --name "$builder" --driver docker-container --use >/dev/null

tags=("$version" "sha-${commit:0:12}")
if [[ "$version" =~ ^([0-9]+)\.([0-9]+)\.[0-9]+$ ]]; then
    tags+=("${BASH_REMATCH[1]}.${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}")
fi
declare -A digests
for arch in x86_64 aarch64; do
    case "$arch" in x86_64) platform=linux/amd64 ;; aarch64) platform=linux/arm64 ;; esac
    context="$work/$arch"
    mkdir -p "$context/bin"
    install -m 0755 "$dist/confmgr-server-$version-linux-$arch" "$context/bin/confmgr-server"
    install -m 0755 "$dist/confmgr-$version-linux-$arch" "$context/bin/confmgr"
    scripts/containers/rootfs.sh "$context/rootfs" "$context/bin"
    for target in server cli; do
        image="ghcr.io/$owner/confmgr-$target"
        docker buildx build --builder "$builder" --platform "$platform" -f Dockerfile \
            --target "$target" \
            --build-arg BINARIES=host \
            --build-arg "VERSION=$version" \
            --build-arg "REVISION=$commit" \
            --build-arg "SOURCE=https://github.com/$GITHUB_REPOSITORY" \
            --build-arg "SOURCE_DATE_EPOCH=$epoch" \
            --provenance=false \
            --metadata-file "$context/$target.json" \
            --output "type=image,name=$image,push-by-digest=true,name-canonical=true,push=true,rewrite-timestamp=true" \
            "$context"
        digest="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$context/$target.json")"
        digests[$target]+=" $image@$digest"
        echo "release-images: $image $platform $digest"
    done
done

for target in server cli; do
    image="ghcr.io/$owner/confmgr-$target"
    tag_args=()
    for tag in "${tags[@]}"; do tag_args+=(-t "$image:$tag"); done
    # shellcheck disable=SC2086 # the per-platform references are separate words
    docker buildx imagetools create --builder "$builder" "${tag_args[@]}" ${digests[$target]}
    index="$(docker buildx imagetools inspect --builder "$builder" "$image:$version" --format '{{json .Manifest}}' \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')"
    cosign sign --yes --recursive "$image@$index"
    echo "release-images: $image@$index tagged ${tags[*]} and signed"
    [ -z "${GITHUB_OUTPUT:-}" ] || echo "$target-digest=$index" >>"$GITHUB_OUTPUT"
done
