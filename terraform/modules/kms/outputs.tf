output "key_arn" {
  description = "ARN of the key: CONFMGR_KMS_KEY_ID (an ARN names its region, so the server needs no AWS_REGION for KMS)."
  value       = aws_kms_key.root_key_wrap.arn
}

output "key_id" {
  description = "ID of the key."
  value       = aws_kms_key.root_key_wrap.key_id
}

output "alias_name" {
  description = "The key's alias (alias/NAME)."
  value       = aws_kms_alias.root_key_wrap.name
}

output "deployment_context" {
  description = "The encryption context value the key policy allows: CONFMGR_KMS_CONTEXT."
  value       = var.deployment_context
}
