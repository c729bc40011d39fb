variable "alias" {
  description = "Alias of the key without the alias/ prefix (e.g. confmgr-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be letters, digits, '/', '_' or '-', and must not start with aws/."
  }
}

variable "deployment_context" {
  description = "Value of the encryption context key confmgr:deployment: the server's CONFMGR_KMS_CONTEXT (e.g. confmgr-prod). The key policy allows ConfMgr's role this context only."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,128}$", var.deployment_context))
    error_message = "deployment_context must be 1-128 letters, digits, '.', '_' or '-'."
  }
}

variable "confmgr_role_arn" {
  description = "ARN of the IAM role ConfMgr's pods run as (the confmgr-identity module's role_arn): the only principal allowed to encrypt and decrypt with the key."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.confmgr_role_arn))
    error_message = "confmgr_role_arn must be an IAM role ARN."
  }
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled deletion of the key takes effect. Every database backup is unreadable once the key is gone: keep it long."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}
