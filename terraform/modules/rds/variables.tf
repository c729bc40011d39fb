variable "identifier" {
  description = "RDS instance identifier, also the prefix of its parameter group, subnet group, security group and key alias (e.g. confmgr-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,50}[a-z0-9]$", var.identifier)) && !strcontains(var.identifier, "--")
    error_message = "identifier must be lowercase letters, digits and single dashes, start with a letter and not end with a dash."
  }
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group (at least two zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids needs subnets in at least two availability zones."
  }
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect to PostgreSQL (5432): the EKS cluster security group, which the nodes and their pods carry. Nothing else may connect."
  type        = list(string)

  validation {
    condition     = length(var.client_security_group_ids) >= 1
    error_message = "client_security_group_ids needs at least one security group."
  }
}

variable "engine_version" {
  description = "PostgreSQL version: a major version (16: RDS picks the default minor and upgrades minors in the maintenance window) or an exact one (16.8)."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 16 (16 or 16.N): the parameter group family is postgres16."
  }
}

variable "instance_class" {
  description = "DB instance class (e.g. db.t4g.micro, db.m7g.large)."
  type        = string

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS instance class (db.*)."
  }
}

variable "allocated_storage_gb" {
  description = "Initial gp3 storage in GiB (20 at least)."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage_gb >= 20 && var.allocated_storage_gb <= 65536
    error_message = "allocated_storage_gb must be between 20 and 65536."
  }
}

variable "max_allocated_storage_gb" {
  description = "Upper bound of storage autoscaling in GiB (0 disables autoscaling)."
  type        = number
  default     = 100

  validation {
    condition     = var.max_allocated_storage_gb == 0 || var.max_allocated_storage_gb >= 20
    error_message = "max_allocated_storage_gb must be 0 (off) or at least 20."
  }
}

variable "database_name" {
  description = "Database created with the instance, which ConfMgr uses."
  type        = string
  default     = "confmgr"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must be a lowercase PostgreSQL identifier."
  }
}

variable "master_username" {
  description = "Master user (administration only; its password is generated and kept in Secrets Manager by RDS). Must differ from ConfMgr's own user."
  type        = string
  default     = "confmgr_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.master_username)) && var.master_username != "confmgr"
    error_message = "master_username must be a lowercase PostgreSQL identifier other than confmgr (ConfMgr's IAM-authenticated user)."
  }
}

variable "multi_az" {
  description = "A synchronous standby in another zone with automatic failover."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is turned off."
  type        = bool
}

variable "skip_final_snapshot" {
  description = "Delete the instance without a final snapshot (throwaway environments only)."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups (and so of point-in-time restore)."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35 (0 would turn backups off)."
  }
}

variable "performance_insights_enabled" {
  description = "Turn on Performance Insights (encrypted with the database's key)."
  type        = bool
}

variable "performance_insights_retention_days" {
  description = "Performance Insights retention in days: 7 or a multiple of 31 up to 731."
  type        = number
  default     = 7

  validation {
    condition     = var.performance_insights_retention_days == 7 || (var.performance_insights_retention_days % 31 == 0 && var.performance_insights_retention_days <= 731)
    error_message = "performance_insights_retention_days must be 7 or a multiple of 31 up to 731."
  }
}

variable "monitoring_interval_seconds" {
  description = "Enhanced Monitoring interval (0 turns it off; 1, 5, 10, 15, 30 or 60)."
  type        = number
  default     = 0

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval_seconds)
    error_message = "monitoring_interval_seconds must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the exported PostgreSQL logs."
  type        = number
  default     = 30
}

variable "apply_immediately" {
  description = "Apply changes at once instead of in the next maintenance window."
  type        = bool
  default     = false
}
