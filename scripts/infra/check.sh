#!/usr/bin/env bash
# The whole Terraform check (`just infra-check`, issue 26), offline:
#   1. terraform fmt -check -recursive of terraform/;
#   2. init (from the local provider mirror, no backend) and validate of every environment and
#      module, and no moto or endpoint setting in any real root or module;
#   3. checkov's terraform framework (terraform/.checkov.yaml lists and explains every skip);
#   4. against moto (AWS emulated on 127.0.0.1): plan of dev, staging and prod, each asserted
#      on (scripts/infra/assert_infra.py); then apply of dev, assertions on its state and
#      outputs, scripts/helm-values-from-terraform.sh on those outputs, the chart rendered with
#      the values it wrote (when helm/confmgr exists), destroy, and an empty state after it.
# Works on a copy of terraform/ in a temporary directory (the tree is left untouched) and stops
# moto and removes the copy on exit. Needs terraform >= 1.10 with a filesystem mirror holding
# hashicorp/aws (found under / or given as CONFMGR_TF_MIRROR) and python3; installs moto[server],
# PyYAML and checkov (pinned) when missing. CONFMGR_INFRA_SKIP_MOTO=1 skips step 4.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
moto_version=5.2.1
started=$SECONDS
step() { printf '\n== infra-check: %s (%ss)\n' "$*" "$((SECONDS - started))"; }
fail() {
    printf '\ninfra-check: FAILED: %s\n' "$*" >&2
    exit 1
}

# --- tools ---------------------------------------------------------------------------------
command -v terraform >/dev/null || fail "terraform is not on PATH (terraform >= 1.10 is needed: S3 state locking with use_lockfile)"
tf_version=$(terraform version -json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')
python3 -c 'import sys; v = tuple(int(x) for x in sys.argv[1].split(".")[:2]); sys.exit(v < (1, 10))' "$tf_version" ||
    fail "terraform $tf_version is too old: >= 1.10 is needed (use_lockfile in the S3 backend)"

mirror=${CONFMGR_TF_MIRROR:-}
if [ -z "$mirror" ]; then
    found=$(find / -maxdepth 4 -type d -name registry.terraform.io -not -path '/proc/*' 2>/dev/null | head -n 1 || true)
    [ -n "$found" ] && mirror=$(dirname "$found")
fi
[ -n "$mirror" ] && [ -d "$mirror/registry.terraform.io/hashicorp/aws" ] ||
    fail "no Terraform provider mirror with hashicorp/aws found (looked for a registry.terraform.io directory up to depth 4 under /; set CONFMGR_TF_MIRROR to the mirror's directory)"

python3 -c 'import moto.server' 2>/dev/null || {
    echo "infra-check: installing moto[server]==$moto_version" >&2
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$moto_version"
}
"$repo/scripts/tools/pip-tools.sh" pyyaml

# --- workspace -----------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/confmgr-infra.XXXXXX")
moto_pid=
cleanup() {
    if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$work/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
# The provider is several hundred MB: copy it once into a cache and link it into each root
# (no lock file is committed, so the cache must be allowed to fill one in).
mkdir -p "$work/plugin-cache"
export TF_PLUGIN_CACHE_DIR="$work/plugin-cache" TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE=true
# Never reach a real AWS account from here, whatever the caller's environment holds.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONFIG_FILE
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

# A clean copy: no .terraform directories, states, lock files or plans of anyone's own runs.
tar -C "$repo" -cf - --exclude=.terraform --exclude='*.tfstate*' --exclude=.terraform.lock.hcl \
    --exclude=tfplan --exclude=helm-values.yaml --exclude=backend.hcl terraform | tar -C "$work" -xf -
tf=$work/terraform

tf_quiet() { # run terraform; show its output only when it fails
    local log=$work/last.log
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        return 1
    fi
}

# --- 1. format -----------------------------------------------------------------------------
step "terraform fmt -check -recursive"
terraform fmt -check -recursive -diff "$repo/terraform" || fail "terraform fmt: the files above are not formatted (run terraform fmt -recursive terraform)"

# --- 2. init and validate ------------------------------------------------------------------
step "init (local mirror, no backend) and validate"
roots=()
for dir in "$tf"/environments/* "$tf"/modules/*; do roots+=("${dir#"$tf"/}"); done
[ "${#roots[@]}" -eq 8 ] || fail "expected 3 environments and 5 modules, found: ${roots[*]}"
for root in "${roots[@]}"; do
    tf_quiet terraform -chdir="$tf/$root" init -backend=false -no-color || fail "terraform init of $root"
    terraform -chdir="$tf/$root" validate -no-color >"$work/validate.log" 2>&1 || {
        cat "$work/validate.log" >&2
        fail "terraform validate of $root"
    }
    echo "valid: $root"
done
for env in dev staging prod; do
    grep -q 'use_lockfile = true' "$tf/environments/$env/versions.tf" || fail "environments/$env: the S3 backend has no use_lockfile = true"
done
if grep -rn -E 'endpoints[[:space:]]*\{|127\.0\.0\.1|localhost|skip_credentials_validation|backend "local"' \
    "$repo/terraform/environments" "$repo/terraform/modules"; then
    fail "the lines above put test settings (endpoints, local backend, skipped validation) into a real root or module: keep them in terraform/test/moto"
fi

# --- 3. checkov ----------------------------------------------------------------------------
step "checkov --framework terraform (skips: terraform/.checkov.yaml)"
(cd "$tf" && "$repo/scripts/tools/checkov.sh" --config-file "$tf/.checkov.yaml" -d . --compact --quiet --skip-download) ||
    fail "checkov: the failed checks above (fix them, or skip one in terraform/.checkov.yaml with the reason)"

if [ "${CONFMGR_INFRA_SKIP_MOTO:-}" = 1 ]; then
    step "moto steps skipped (CONFMGR_INFRA_SKIP_MOTO=1): passed"
    exit 0
fi

# --- 4. moto -------------------------------------------------------------------------------
step "moto $moto_version on 127.0.0.1"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_IAM_LOAD_MANAGED_POLICIES=true python3 -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
python3 - "$port" <<'PY' || { tail -n 20 "$work/moto.log" >&2; fail "moto did not answer on 127.0.0.1:$port within 60 s"; }
import sys, time, urllib.request
deadline = time.time() + 60
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=2)
        break
    except Exception:
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.5)
PY
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

for env in dev staging prod; do
    step "plan of $env against moto"
    root=$tf/environments/$env
    cp "$tf/test/moto/moto_override.tf" "$root/"
    tf_quiet terraform -chdir="$root" init -no-color || fail "terraform init of $env (local backend)"
    tf_quiet timeout 300 terraform -chdir="$root" plan -no-color -out=full.tfplan || fail "terraform plan of $env"
    terraform -chdir="$root" show -json full.tfplan >"$work/plan-$env.json"
    python3 "$repo/scripts/infra/assert_infra.py" plan "$env" "$work/plan-$env.json" || fail "the plan of $env (lines above)"
done

root=$tf/environments/dev
cp "$tf/test/moto/unemulated_override.tf" "$root/"
step "apply of dev against moto (RDS waiters: about 3 min)"
tf_quiet timeout 900 terraform -chdir="$root" apply -no-color -auto-approve || fail "terraform apply of dev against moto (bounded to 15 min)"
terraform -chdir="$root" show -json >"$work/state-dev.json"
python3 "$repo/scripts/infra/assert_infra.py" state dev "$work/state-dev.json" || fail "the applied dev environment (lines above)"

step "scripts/helm-values-from-terraform.sh dev"
CONFMGR_TERRAFORM_DIR=$root "$repo/scripts/helm-values-from-terraform.sh" dev "$work/dev-aws-values.yaml" ||
    fail "scripts/helm-values-from-terraform.sh dev"
python3 "$repo/scripts/infra/assert_infra.py" values dev "$work/dev-aws-values.yaml" "$work/state-dev.json" ||
    fail "the values written by scripts/helm-values-from-terraform.sh (lines above)"
if CONFMGR_TERRAFORM_DIR=$root "$repo/scripts/helm-values-from-terraform.sh" prod - >/dev/null 2>"$work/refusal.log"; then
    fail "scripts/helm-values-from-terraform.sh prod accepted the outputs of dev"
fi
grep -q "not 'prod'" "$work/refusal.log" || fail "scripts/helm-values-from-terraform.sh prod on dev's outputs: unexpected message: $(cat "$work/refusal.log")"

if [ -f "$repo/helm/confmgr/Chart.yaml" ] && [ -f "$repo/scripts/helm/render.py" ]; then
    step "helm/confmgr rendered with the written values"
    "$repo/scripts/tools/pip-tools.sh" helm
    values_args=()
    [ -f "$repo/helm/confmgr/ci/dev-values.yaml" ] && values_args+=(-f "$repo/helm/confmgr/ci/dev-values.yaml")
    python3 "$repo/scripts/helm/render.py" "${values_args[@]}" -f "$work/dev-aws-values.yaml" \
        --release confmgr --namespace confmgr -o "$work/rendered.yaml" ||
        fail "the chart refused the values written from Terraform (Helm's message above)"
    out() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["values"]["outputs"][sys.argv[2]]["value"])' "$work/state-dev.json" "$1"; }
    for want in "postgres://confmgr@$(out database_host):$(out database_port)/$(out database_name)?sslmode=verify-full&sslrootcert=" \
        "$(out kms_key_arn)" "CONFMGR_DATABASE_IAM_AUTH" "CONFMGR_KMS_CONTEXT"; do
        grep -qF "$want" "$work/rendered.yaml" || fail "the rendered chart does not hold $want (from the Terraform outputs)"
    done
    echo "rendered: the chart accepts the values; its database URL (IAM auth, verify-full) and KMS key come from Terraform"
else
    echo "infra-check: note: helm/confmgr or scripts/helm/render.py is absent: the values were not rendered through the chart"
fi

step "destroy of dev against moto"
tf_quiet timeout 600 terraform -chdir="$root" destroy -no-color -auto-approve || fail "terraform destroy of dev against moto (bounded to 10 min)"
left=$(terraform -chdir="$root" state list)
[ -z "$left" ] || fail "resources left in the state after destroy: $left"

step "passed"
