# ConfMgr on AWS, development: small and cheap. One NAT gateway, interface endpoints in one
# zone, single-AZ RDS without deletion protection or final snapshot, a week of backups, two
# small nodes.

locals {
  environment = "dev"
  name        = "confmgr-${local.environment}"

  endpoints_every_zone  = false
  single_nat_gateway    = true
  log_retention_days    = 30
  node_instance_types   = ["t3.medium"]
  node_count            = { desired = 2, min = 2, max = 3 }
  db_instance_class     = "db.t4g.micro"
  db_multi_az           = false
  db_deletion_guard     = false
  db_backup_days        = 7
  db_perf_insights      = false
  db_monitoring_seconds = 0
  kms_deletion_days     = 7
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
