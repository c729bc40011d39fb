variable "name" {
  description = "Cluster name, also the prefix of its roles, key alias and node group (e.g. confmgr-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,37}$", var.name))
    error_message = "name must start with a letter and hold at most 38 letters, digits or dashes (role name prefixes must stay under IAM's limit)."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane (e.g. 1.35). Keep it in EKS standard support: extended support costs six times as much per cluster hour."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version such as 1.35."
  }
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control plane's network interfaces and the nodes (at least two zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids needs subnets in at least two availability zones."
  }
}

variable "endpoint_public_access" {
  description = "Also expose the API server endpoint publicly (restricted to public_access_cidrs). The private endpoint is always on."
  type        = bool
  default     = false
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint (only used when endpoint_public_access is true; 0.0.0.0/0 is refused)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_access_cidrs must be valid IPv4 CIDRs other than 0.0.0.0/0."
  }

  validation {
    condition     = !var.endpoint_public_access || length(var.public_access_cidrs) > 0
    error_message = "endpoint_public_access needs at least one CIDR in public_access_cidrs."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the control-plane logs (api, audit, authenticator, controllerManager, scheduler)."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ..., 3653)."
  }
}

variable "node_instance_types" {
  description = "EC2 instance types of the managed node group (x86_64: the AMI type is AL2023_x86_64_STANDARD)."
  type        = list(string)

  validation {
    condition     = length(var.node_instance_types) > 0
    error_message = "node_instance_types needs at least one instance type."
  }
}

variable "node_count" {
  description = "Desired, minimum and maximum number of nodes."
  type = object({
    desired = number
    min     = number
    max     = number
  })

  validation {
    condition     = var.node_count.min >= 1 && var.node_count.min <= var.node_count.desired && var.node_count.desired <= var.node_count.max
    error_message = "node_count must satisfy 1 <= min <= desired <= max."
  }
}

variable "node_disk_size_gb" {
  description = "Size of each node's encrypted gp3 root volume in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.node_disk_size_gb >= 20
    error_message = "node_disk_size_gb must be at least 20."
  }
}

variable "manage_pod_identity_agent_addon" {
  description = "Install the EKS Pod Identity agent add-on, which gives pods the IAM roles of their Pod Identity associations. Set false only when something else manages the add-on."
  type        = bool
  default     = true
}
