#!/usr/bin/env bash
# Writes the Helm values of ConfMgr's AWS path for one environment from its Terraform outputs
# (`terraform output -json`), so that `terraform apply` and `helm install` chain with nothing
# typed by hand (doc/aws.md). Usage:
#   scripts/helm-values-from-terraform.sh ENV [OUT]
# ENV is dev, staging or prod. OUT defaults to terraform/environments/ENV/helm-values.yaml
# (git-ignored); `-` writes to stdout. CONFMGR_TERRAFORM_DIR reads another root directory
# instead of terraform/environments/ENV (the infra check points it at its moto copy).
# Needs terraform and python3; the root must be initialized (terraform init) and applied.
set -euo pipefail

usage() { echo "usage: $0 ENV [OUT]   (ENV: dev, staging or prod; OUT: a file, or - for stdout)" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
env=$1
case "$env" in dev | staging | prod) ;; *) usage ;; esac

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${CONFMGR_TERRAFORM_DIR:-$repo/terraform/environments/$env}
out=${2:-$repo/terraform/environments/$env/helm-values.yaml}

command -v terraform >/dev/null || { echo "$0: terraform is not on PATH" >&2; exit 1; }
if ! outputs=$(terraform -chdir="$dir" output -json); then
    echo "$0: cannot read the outputs of $dir (run terraform init and terraform apply there first)" >&2
    exit 1
fi

values=$(TF_OUTPUTS=$outputs python3 - "$env" <<'PY'
import json, os, sys

env = sys.argv[1]
outputs = json.loads(os.environ["TF_OUTPUTS"])
wanted = {
    "environment": str, "region": str, "database_host": str, "database_port": (int, float),
    "database_name": str, "database_user": str, "kms_key_arn": str, "kms_context": str,
    "service_account": str,
}
problems = []
values = {}
for name, kind in wanted.items():
    if name not in outputs:
        problems.append(f"output {name} is missing")
    elif not isinstance(outputs[name].get("value"), kind) or outputs[name]["value"] in ("", None):
        problems.append("output %s is %r, not a non-empty %s" % (name, outputs[name].get("value"), getattr(kind, "__name__", "number")))
    else:
        values[name] = outputs[name]["value"]
if not outputs:
    problems = ["the state has no outputs: has this environment been applied?"]
if not problems and values["environment"] != env:
    problems.append("these are the outputs of environment %r, not %r" % (values["environment"], env))
if problems:
    sys.exit("terraform outputs: " + "; ".join(problems))

q = json.dumps  # a JSON string is a valid double-quoted YAML scalar
print(f"""# ConfMgr on AWS, environment {env}: written by scripts/helm-values-from-terraform.sh from
# `terraform output -json`. Do not edit: apply Terraform and run the script again.
serviceAccount:
  name: {q(values["service_account"])}
database:
  host: {q(values["database_host"])}
  port: {int(values["database_port"])}
  name: {q(values["database_name"])}
  user: {q(values["database_user"])}
  sslMode: "verify-full"
  iamAuth:
    enabled: true
    region: {q(values["region"])}
kms:
  enabled: true
  keyId: {q(values["kms_key_arn"])}
  region: {q(values["region"])}
  context: {q(values["kms_context"])}""")
PY
)

if [ "$out" = - ]; then
    printf '%s\n' "$values"
else
    printf '%s\n' "$values" >"$out"
    echo "wrote $out; install with: helm upgrade --install confmgr ./helm/confmgr -n confmgr -f helm/confmgr/ci/$env-values.yaml -f $out (doc/aws.md)" >&2
fi
