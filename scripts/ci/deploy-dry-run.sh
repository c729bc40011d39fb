#!/usr/bin/env bash
# What a deploy to ENV would apply, rendered and validated without a cluster or AWS:
#   scripts/ci/deploy-dry-run.sh ENV        (dev, staging, prod; `just deploy-dry-run ENV`)
#
#  1. the Terraform-to-Helm values, from scripts/helm-values-from-terraform.sh ENV run against
#     a fixture of `terraform output -json` (scripts/ci/fixtures/terraform-output-ENV.json,
#     served by a stand-in `terraform` on PATH that answers only `output -json`)
#  2. the chart rendered with the values deploy.sh passes: helm/confmgr/ci/ENV-values.yaml,
#     the Terraform values, the images (ghcr.io/OWNER/confmgr-{server,cli}:TAG)
#  3. scripts/helm/validate.sh on the result (kubernetes-validate --strict)
#  4. the wiring: the server and test images are the ones deployed, every namespaced object is
#     in `confmgr`, the database host, KMS key and KMS context from Terraform reach the objects
# Output in target/deploy-dry-run/ENV/ (values and rendered.yaml). DEPLOY_OWNER,
# DEPLOY_IMAGE_TAG, DEPLOY_SERVER_DIGEST and DEPLOY_CLI_DIGEST change the images (default
# example-org, sha-0123456789ab, no digests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=lib.sh
. scripts/ci/lib.sh
env="$(terraform_env "${1:?usage: scripts/ci/deploy-dry-run.sh ENV}")"
fixture="$root/scripts/ci/fixtures/terraform-output-$env.json"
out="$root/target/deploy-dry-run/$env"
owner="${DEPLOY_OWNER:-example-org}"
tag="${DEPLOY_IMAGE_TAG:-sha-0123456789ab}"
fail() { echo "deploy-dry-run $env: FAIL: $*" >&2; exit 1; }
scripts/tools/pip-tools.sh helm pyyaml
rm -rf "$out"
mkdir -p "$out/bin"

cat >"$out/bin/terraform" <<'SHIM'
#!/usr/bin/env bash
# Stand-in for terraform in deploy-dry-run.sh: answers `terraform [-chdir=DIR] output -json`.
args=" $* "
case "$args" in
    *" output "*"-json"*) exec cat "$CONFMGR_TF_OUTPUT_FIXTURE" ;;
    *) echo "deploy-dry-run's terraform stand-in only answers 'output -json', not: $*" >&2; exit 2 ;;
esac
SHIM
chmod +x "$out/bin/terraform"

echo "=== deploy-dry-run $env: values from the Terraform outputs ($fixture)"
[ -x scripts/helm-values-from-terraform.sh ] || fail "scripts/helm-values-from-terraform.sh is missing"
PATH="$out/bin:$PATH" CONFMGR_TF_OUTPUT_FIXTURE="$fixture" \
    scripts/helm-values-from-terraform.sh "$env" "$out/terraform-values.yaml" \
    || fail "scripts/helm-values-from-terraform.sh $env failed"
check_image_ref "$tag" "${DEPLOY_SERVER_DIGEST:-}" "${DEPLOY_CLI_DIGEST:-}" || fail "bad image reference"
write_image_values "$out/image-values.yaml" "$owner" "$tag" "${DEPLOY_SERVER_DIGEST:-}" "${DEPLOY_CLI_DIGEST:-}"

echo "=== deploy-dry-run $env: render"
python3 scripts/helm/render.py -f "$chart/ci/$env-values.yaml" -f "$out/terraform-values.yaml" \
    -f "$out/image-values.yaml" --release "$release" --namespace "$namespace" -o "$out/rendered.yaml" \
    || fail "the chart did not render with $env's values"
echo "=== deploy-dry-run $env: validate"
scripts/helm/validate.sh "$out/rendered.yaml" || fail "the rendered objects are not valid"

echo "=== deploy-dry-run $env: wiring"
python3 - "$out/rendered.yaml" "$fixture" "$owner" "$tag" "$namespace" "${DEPLOY_SERVER_DIGEST:-}" "${DEPLOY_CLI_DIGEST:-}" <<'PY' || fail "the wiring checks failed"
import json, sys
import yaml

rendered, fixture, owner, tag, namespace, server_digest, cli_digest = sys.argv[1:]
owner = owner.lower()
docs = [d for d in yaml.safe_load_all(open(rendered, encoding="utf-8")) if d]
outputs = {k: v["value"] for k, v in json.load(open(fixture, encoding="utf-8")).items()}
text = open(rendered, encoding="utf-8").read()
problems = []

def containers(doc):
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", spec))
    return (pod.get("initContainers") or []) + (pod.get("containers") or [])

def wanted(name, digest):
    """The references a Pod may carry for this image: by tag, or by digest when one is set."""
    repo = f"ghcr.io/{owner}/{name}"
    return {f"{repo}@{digest}", f"{repo}:{tag}@{digest}"} if digest else {f"{repo}:{tag}"}

server = wanted("confmgr-server", server_digest)
cli = wanted("confmgr-cli", cli_digest)
deployments = [d for d in docs if d.get("kind") == "Deployment"]
if not deployments:
    problems.append("no Deployment rendered")
for d in deployments:
    images = {c.get("image") for c in containers(d)}
    if not images & server:
        problems.append(f"Deployment {d['metadata']['name']} runs {sorted(images)}, not {sorted(server)}")
tests = [d for d in docs if d.get("kind") == "Pod" and "test" in str(d["metadata"].get("annotations", {}).get("helm.sh/hook", ""))]
if not tests:
    problems.append("no helm test Pod rendered")
for t in tests:
    images = {c.get("image") for c in containers(t)}
    if not images & cli:
        problems.append(f"helm test Pod {t['metadata']['name']} runs {sorted(images)}, not {sorted(cli)}")
cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition", "PriorityClass", "StorageClass"}
for d in docs:
    if d.get("kind") in cluster_scoped:
        continue
    ns = d["metadata"].get("namespace")
    if ns not in (None, namespace):
        problems.append(f"{d['kind']} {d['metadata']['name']} is in namespace {ns}, not {namespace}")
accounts = [d for d in docs if d.get("kind") == "ServiceAccount"]
if outputs["service_account"] not in {a["metadata"]["name"] for a in accounts}:
    problems.append(f"no ServiceAccount named {outputs['service_account']}")
for key in ("database_host", "kms_key_arn", "kms_context"):
    if str(outputs[key]) not in text:
        problems.append(f"Terraform's {key} ({outputs[key]}) appears nowhere in the rendered objects")
for p in problems:
    print(f"  {p}", file=sys.stderr)
print(f"wiring: {len(docs)} objects, {len(tests)} helm test Pod(s), {len(problems)} problems")
sys.exit(1 if problems else 0)
PY
echo "deploy-dry-run $env: passed ($out/rendered.yaml)"
