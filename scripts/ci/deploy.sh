#!/usr/bin/env bash
# One deploy of ConfMgr to ENV's EKS cluster (deploy.yml's step; a person with the same AWS
# role and tools can run it too):
#   scripts/ci/deploy.sh ENV      (dev, staging, production/prod)
#
#  1. terraform init (S3 state: TF_STATE_BUCKET, TF_STATE_REGION default AWS_REGION), then the
#     cluster name and region from the environment's Terraform outputs
#  2. aws eks update-kubeconfig into a kubeconfig of this run only
#  3. values: helm/confmgr/ci/ENV-values.yaml + scripts/helm-values-from-terraform.sh ENV + the
#     images ghcr.io/OWNER/confmgr-{server,cli}:IMAGE_TAG (OWNER: GITHUB_REPOSITORY_OWNER),
#     pulled by digest when SERVER_DIGEST and CLI_DIGEST are set
#  4. the release's current revision is noted (rollback.sh goes back to it)
#  5. helm upgrade --install --atomic --wait (a failed upgrade rolls itself back)
#  6. helm test; when it fails the release is rolled back to the noted revision here
# Needs: AWS credentials (deploy.yml: OIDC), terraform, aws, helm 3, python3.
# Same values as `just deploy-dry-run ENV`, which renders them without a cluster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=lib.sh
. scripts/ci/lib.sh
env="$(terraform_env "${1:?usage: scripts/ci/deploy.sh ENV}")"
: "${IMAGE_TAG:?IMAGE_TAG is not set (sha-SHORT or a release version)}"
: "${GITHUB_REPOSITORY_OWNER:?GITHUB_REPOSITORY_OWNER is not set (the GHCR owner)}"
: "${TF_STATE_BUCKET:?TF_STATE_BUCKET is not set (the S3 bucket of the Terraform state)}"
check_image_ref "$IMAGE_TAG" "${SERVER_DIGEST:-}" "${CLI_DIGEST:-}"
state_dir="${CONFMGR_DEPLOY_STATE:-${RUNNER_TEMP:-/tmp}/confmgr-deploy-$env}"
mkdir -p "$state_dir"
export KUBECONFIG="$state_dir/kubeconfig"
tf="terraform/environments/$env"

echo "=== deploy $env: Terraform outputs"
terraform -chdir="$tf" init -input=false -no-color \
    -backend-config="bucket=$TF_STATE_BUCKET" \
    -backend-config="key=confmgr/$env/terraform.tfstate" \
    -backend-config="region=${TF_STATE_REGION:-${AWS_REGION:?AWS_REGION is not set (configure-aws-credentials sets it)}}" >/dev/null
cluster="$(terraform -chdir="$tf" output -raw cluster_name)"
region="$(terraform -chdir="$tf" output -raw region)"
scripts/helm-values-from-terraform.sh "$env" "$state_dir/terraform-values.yaml"
write_image_values "$state_dir/image-values.yaml" "$GITHUB_REPOSITORY_OWNER" "$IMAGE_TAG" \
    "${SERVER_DIGEST:-}" "${CLI_DIGEST:-}"

echo "=== deploy $env: kubeconfig for $cluster ($region)"
aws eks update-kubeconfig --name "$cluster" --region "$region" --alias "confmgr-$env" >/dev/null

previous="$(helm history "$release" -n "$namespace" --max 1 -o json 2>/dev/null \
    | python3 -c 'import json, sys; h = json.load(sys.stdin); print(h[-1]["revision"] if h else "")' 2>/dev/null || true)"
echo "${previous:-}" >"$state_dir/previous-revision"
echo "=== deploy $env: helm upgrade --install (current revision: ${previous:-none, first install})"
helm upgrade --install "$release" "$chart" --namespace "$namespace" --create-namespace \
    -f "$chart/ci/$env-values.yaml" -f "$state_dir/terraform-values.yaml" -f "$state_dir/image-values.yaml" \
    --atomic --wait --timeout 10m --history-max 20
helm history "$release" -n "$namespace" --max 3

echo "=== deploy $env: helm test"
if ! helm test "$release" -n "$namespace" --logs --timeout 5m; then
    echo "deploy $env: helm test failed after the upgrade: rolling back" >&2
    scripts/ci/rollback.sh "$env" || true
    exit 1
fi
echo "deploy $env: ${IMAGE_TAG} deployed and helm test passed"
