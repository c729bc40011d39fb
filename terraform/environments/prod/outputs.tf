# Everything the Helm chart needs (scripts/helm-values-from-terraform.sh reads these), and
# what an operator needs for the one-time database setup (doc/aws.md).

output "environment" {
  description = "Name of the environment."
  value       = local.environment
}

output "region" {
  description = "AWS region (database IAM tokens and KMS)."
  value       = var.region
}

output "vpc_cidr" {
  description = "CIDR of the VPC, where the interface endpoints for KMS, STS and EKS Auth are (Helm value networkPolicy.awsCidrs)."
  value       = module.network.vpc_cidr_block
}

output "cluster_name" {
  description = "EKS cluster (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "database_host" {
  description = "RDS endpoint host name (database.host)."
  value       = module.rds.address
}

output "database_port" {
  description = "RDS port (database.port)."
  value       = module.rds.port
}

output "database_name" {
  description = "Database ConfMgr uses (database.name)."
  value       = module.rds.database_name
}

output "database_user" {
  description = "PostgreSQL role ConfMgr logs in as with IAM tokens (database.user)."
  value       = "confmgr"
}

output "database_identifier" {
  description = "RDS instance identifier (snapshots, point-in-time restore)."
  value       = module.rds.identifier
}

output "database_master_username" {
  description = "RDS master user, for the one-time setup of ConfMgr's user only."
  value       = module.rds.master_username
}

output "database_master_secret_arn" {
  description = "Secrets Manager secret with the master user's password (RDS keeps and rotates it)."
  value       = module.rds.master_user_secret_arn
}

output "kms_key_arn" {
  description = "KMS key that wraps ConfMgr's root key (kms.keyId, CONFMGR_KMS_KEY_ID)."
  value       = module.kms.key_arn
}

output "kms_context" {
  description = "Encryption context value confmgr:deployment (kms.context, CONFMGR_KMS_CONTEXT)."
  value       = module.kms.deployment_context
}

output "confmgr_role_arn" {
  description = "IAM role of ConfMgr's pods (given by EKS Pod Identity; for IRSA, the role-arn annotation)."
  value       = module.identity.role_arn
}

output "namespace" {
  description = "Kubernetes namespace to install the Helm release in."
  value       = module.identity.namespace
}

output "service_account" {
  description = "Kubernetes service account ConfMgr runs as (serviceAccount.name)."
  value       = module.identity.service_account
}
