variable "name" {
  description = "Name prefix of every resource (e.g. confmgr-dev)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC. Split into /20 subnets: three private (nodes, pods, database) and three public (NAT gateways, load balancers)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 18
    error_message = "cidr_block must be a valid IPv4 CIDR of /18 or larger (six /20+ subnets are cut from it)."
  }
}

variable "availability_zones" {
  description = "Availability zones of the subnets, by name (e.g. us-east-1a). Named, not counted, so that a zone AWS adds or marks impaired never shifts the subnets to other zones."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must name two or three distinct zones (EKS and RDS subnet groups need at least two)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper; egress of every zone fails with that zone) instead of one per zone."
  type        = bool
}

variable "flow_log_retention_days" {
  description = "Days CloudWatch Logs keeps the VPC flow logs."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ..., 3653)."
  }
}

variable "interface_endpoint_services" {
  description = "AWS services reached through interface VPC endpoints (private DNS) instead of the NAT: KMS (root key unwrap), STS, EKS Auth (Pod Identity credentials), ECR (image pulls). S3 always gets a gateway endpoint (ECR layers)."
  type        = list(string)
  default     = ["kms", "sts", "eks-auth", "ecr.api", "ecr.dkr"]

  validation {
    condition     = alltrue([for s in var.interface_endpoint_services : can(regex("^[a-z0-9.-]+$", s))])
    error_message = "interface_endpoint_services holds service names such as kms or ecr.dkr (without the com.amazonaws.REGION. prefix)."
  }
}

variable "interface_endpoints_in_every_zone" {
  description = "Put each interface endpoint in every zone's private subnet (true: no cross-zone hop, one endpoint-hour per zone) or only in the first zone's (cheaper; pods of the other zones cross a zone to reach it, and lose it with that zone)."
  type        = bool
  default     = true
}
