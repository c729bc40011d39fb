output "role_arn" {
  description = "ARN of ConfMgr's IAM role (for IRSA: the eks.amazonaws.com/role-arn annotation)."
  value       = aws_iam_role.confmgr.arn
}

output "role_name" {
  description = "Name of ConfMgr's IAM role."
  value       = aws_iam_role.confmgr.name
}

output "pod_identity_association_id" {
  description = "ID of the Pod Identity association (null when create_pod_identity_association is false)."
  value       = one(aws_eks_pod_identity_association.confmgr[*].association_id)
}

output "namespace" {
  description = "Namespace of ConfMgr's service account."
  value       = var.namespace
}

output "service_account" {
  description = "Name of ConfMgr's service account."
  value       = var.service_account
}
