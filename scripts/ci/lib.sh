#!/usr/bin/env bash
# Shared by the deploy scripts (deploy.sh, deploy-dry-run.sh, rollback.sh); sourced, not run.
# shellcheck disable=SC2034 # the variables are used by the scripts that source this

release=confmgr
namespace=confmgr
chart=helm/confmgr

# terraform_env ENV: the Terraform environment and values-file name for a GitHub environment
# (`production` is `prod` under terraform/environments and helm/confmgr/ci).
terraform_env() {
    case "$1" in
        dev | staging | prod) echo "$1" ;;
        production) echo prod ;;
        *) echo "unknown environment '$1' (dev, staging, production or prod)" >&2; return 2 ;;
    esac
}

# check_image_ref TAG [SERVER_DIGEST CLI_DIGEST]: refuses anything but sha-<12 hex> or a
# release version as the tag, and anything but sha256:<64 hex> (or nothing) as a digest.
check_image_ref() {
    [[ "$1" =~ ^(sha-[0-9a-f]{12}|[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$ ]] \
        || { echo "image tag '$1' is neither sha-<12 hex digits> nor a release version" >&2; return 1; }
    local digest
    for digest in "${@:2}"; do
        [ -z "$digest" ] || [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] \
            || { echo "image digest '$digest' is not sha256:<64 hex digits>" >&2; return 1; }
    done
}

# write_image_values FILE OWNER TAG [SERVER_DIGEST CLI_DIGEST]: the images a deploy runs, as
# Helm values; with digests the Pods pull by digest (the tag stays as information).
write_image_values() {
    local owner
    owner="$(tr '[:upper:]' '[:lower:]' <<<"$2")"
    cat >"$1" <<VALUES
# Written by scripts/ci/lib.sh: the images this deploy runs.
image:
  repository: ghcr.io/$owner/confmgr-server
  tag: "$3"
  digest: "${4:-}"
  pullPolicy: IfNotPresent
cliImage:
  repository: ghcr.io/$owner/confmgr-cli
  tag: "$3"
  digest: "${5:-}"
  pullPolicy: IfNotPresent
VALUES
}
