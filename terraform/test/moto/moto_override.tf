# Points an environment root at moto (AWS emulated on 127.0.0.1) for scripts/infra/check.sh,
# which copies this file into a temporary copy of terraform/, next to the environment's own
# files; it is never part of a real root. Terraform merges *_override.tf files into the
# blocks they name. The endpoint comes from AWS_ENDPOINT_URL (set by the script) and the
# state stays in the temporary directory.

terraform {
  backend "local" {}
}

provider "aws" {
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
}
