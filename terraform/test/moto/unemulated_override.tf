# Added for the apply against moto only (scripts/infra/check.sh), where moto's EKS falls
# short: it emulates neither add-ons nor Pod Identity associations, so those two resources
# are switched off through the modules' own variables, and its clusters carry no cluster
# security group, so the database admits a stand-in group of the same VPC instead. The
# check plans each environment without this file first, so that all of it is still planned
# and asserted on.

module "eks" {
  manage_pod_identity_agent_addon = false
}

module "identity" {
  create_pod_identity_association = false
}

module "rds" {
  client_security_group_ids = [module.network.vpc_endpoints_security_group_id]
}
