# ConfMgr on AWS, staging: production's shape at a smaller size. One NAT gateway per zone,
# Multi-AZ RDS with deletion protection and a final snapshot, two weeks of backups,
# Performance Insights, three small nodes.

locals {
  environment = "staging"
  name        = "confmgr-${local.environment}"

  endpoints_every_zone  = true
  single_nat_gateway    = false
  log_retention_days    = 90
  node_instance_types   = ["t3.medium"]
  node_count            = { desired = 3, min = 3, max = 4 }
  db_instance_class     = "db.t4g.medium"
  db_multi_az           = true
  db_deletion_guard     = true
  db_backup_days        = 14
  db_perf_insights      = true
  db_monitoring_seconds = 60
  kms_deletion_days     = 30
}

module "network" {
  source = "../../modules/network"

  name                              = local.name
  cidr_block                        = var.vpc_cidr
  availability_zones                = var.availability_zones
  single_nat_gateway                = local.single_nat_gateway
  interface_endpoints_in_every_zone = local.endpoints_every_zone
  flow_log_retention_days           = local.log_retention_days
}

module "eks" {
  source = "../../modules/eks"

  name                   = local.name
  kubernetes_version     = "1.35"
  vpc_id                 = module.network.vpc_id
  subnet_ids             = module.network.private_subnet_ids
  endpoint_public_access = length(var.eks_public_endpoint_cidrs) > 0
  public_access_cidrs    = var.eks_public_endpoint_cidrs
  log_retention_days     = local.log_retention_days
  node_instance_types    = local.node_instance_types
  node_count             = local.node_count
}

module "rds" {
  source = "../../modules/rds"

  identifier                   = local.name
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.private_subnet_ids
  client_security_group_ids    = [module.eks.cluster_security_group_id]
  instance_class               = local.db_instance_class
  multi_az                     = local.db_multi_az
  deletion_protection          = local.db_deletion_guard
  skip_final_snapshot          = !local.db_deletion_guard
  backup_retention_days        = local.db_backup_days
  performance_insights_enabled = local.db_perf_insights
  monitoring_interval_seconds  = local.db_monitoring_seconds
  log_retention_days           = local.log_retention_days
  apply_immediately            = local.environment == "dev"
}

module "identity" {
  source = "../../modules/confmgr-identity"

  role_name      = local.name
  cluster_name   = module.eks.cluster_name
  kms_key_arn    = module.kms.key_arn
  kms_context    = local.name
  db_resource_id = module.rds.resource_id
}

module "kms" {
  source = "../../modules/kms"

  alias                   = local.name
  deployment_context      = local.name
  confmgr_role_arn        = module.identity.role_arn
  deletion_window_in_days = local.kms_deletion_days
}
