variable "role_name" {
  description = "Name of the IAM role ConfMgr's pods run as (e.g. confmgr-prod)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be 1-64 characters allowed in IAM role names."
  }
}

variable "cluster_name" {
  description = "EKS cluster whose Pod Identity association gives the role to ConfMgr's service account."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace ConfMgr is installed in (the Helm release namespace)."
  type        = string
  default     = "confmgr"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a Kubernetes namespace name (RFC 1123 label)."
  }
}

variable "service_account" {
  description = "Kubernetes service account ConfMgr's pods run as (Helm value serviceAccount.name)."
  type        = string
  default     = "confmgr"

  validation {
    condition     = can(regex("^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$", var.service_account))
    error_message = "service_account must be a Kubernetes object name (RFC 1123 subdomain)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the key that wraps ConfMgr's root key (the kms module's key_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (not an alias)."
  }
}

variable "kms_context" {
  description = "Value of the encryption context key confmgr:deployment the role may use the key with (CONFMGR_KMS_CONTEXT)."
  type        = string
}

variable "db_resource_id" {
  description = "Resource ID of the RDS instance (db-XXXX, the rds module's resource_id): rds-db:connect is granted on it."
  type        = string

  validation {
    condition     = can(regex("^db-[A-Za-z0-9]+$", var.db_resource_id))
    error_message = "db_resource_id must be an RDS DbiResourceId (db-...)."
  }
}

variable "db_user" {
  description = "PostgreSQL role ConfMgr logs in as with IAM authentication (created once by hand: doc/aws.md)."
  type        = string
  default     = "confmgr"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.db_user))
    error_message = "db_user must be a lowercase PostgreSQL identifier."
  }
}

variable "create_pod_identity_association" {
  description = "Create the EKS Pod Identity association for namespace/service_account. Set false only where something else associates the role (or to use IRSA: then add the role's web-identity trust yourself)."
  type        = bool
  default     = true
}
