output "cluster_name" {
  description = "Name of the cluster (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API server."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 PEM of the cluster's CA."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_security_group_id" {
  description = "Security group EKS creates for the control plane and attaches to the managed nodes (and so to their pods)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "node_role_arn" {
  description = "IAM role of the nodes."
  value       = aws_iam_role.node.arn
}

output "secrets_kms_key_arn" {
  description = "Key that encrypts Kubernetes Secrets."
  value       = aws_kms_key.secrets.arn
}

output "kubernetes_version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}
