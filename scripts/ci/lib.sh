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

# write_image_values FILE OWNER TAG: the images a deploy runs, as Helm values.
write_image_values() {
    local owner
    owner="$(tr '[:upper:]' '[:lower:]' <<<"$2")"
    cat >"$1" <<VALUES
# Written by scripts/ci/lib.sh: the images this deploy runs.
image:
  repository: ghcr.io/$owner/confmgr-server
  tag: "$3"
  pullPolicy: IfNotPresent
cliImage:
  repository: ghcr.io/$owner/confmgr-cli
  tag: "$3"
  pullPolicy: IfNotPresent
VALUES
}
