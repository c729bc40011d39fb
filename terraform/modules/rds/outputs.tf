output "address" {
  description = "DNS name of the instance (the host in the database URL; the server certificate's name)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "Database ConfMgr uses."
  value       = aws_db_instance.this.db_name
}

output "resource_id" {
  description = "DbiResourceId of the instance (names it in rds-db:connect ARNs)."
  value       = aws_db_instance.this.resource_id
}

output "arn" {
  description = "ARN of the instance."
  value       = aws_db_instance.this.arn
}

output "identifier" {
  description = "Identifier of the instance (for snapshots and point-in-time restore)."
  value       = aws_db_instance.this.identifier
}

output "master_username" {
  description = "Master user (administration: the one-time setup of ConfMgr's user)."
  value       = aws_db_instance.this.username
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master user's password (kept and rotated by RDS)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.db.id
}

output "kms_key_arn" {
  description = "Key of the storage, backups and master secret."
  value       = aws_kms_key.storage.arn
}
