terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # One state per environment in S3, locked with S3's own lock file (no DynamoDB table).
  # bucket, key and region come from a partial configuration:
  #   terraform init -backend-config=backend.hcl   (see backend.hcl.example and doc/aws.md)
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project     = "confmgr"
      Environment = local.environment
      ManagedBy   = "terraform"
    })
  }
}
