variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "availability_zones" {
  description = "Three availability zones of the region, by name."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]

  validation {
    condition     = length(var.availability_zones) == 3 && alltrue([for z in var.availability_zones : startswith(z, var.region)])
    error_message = "availability_zones must name three zones of var.region (set both when changing the region)."
  }
}

variable "tags" {
  description = "Extra tags on every resource (Project, Environment and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the environment's VPC."
  type        = string
  default     = "10.30.0.0/16"
}

variable "eks_public_endpoint_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API from outside the VPC (e.g. an office or VPN egress). Empty: private endpoint only, reach it from inside the VPC (VPN, bastion, CI runner in the VPC)."
  type        = list(string)
  default     = []
}
