output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Private subnets, one per zone: EKS nodes and pods, RDS."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone: NAT gateways and internet-facing load balancers."
  value       = aws_subnet.public[*].id
}

output "availability_zones" {
  description = "The zones the subnets are in."
  value       = local.azs
}

output "nat_gateway_ids" {
  description = "The NAT gateways (one, or one per zone)."
  value       = aws_nat_gateway.this[*].id
}

output "vpc_endpoint_ids" {
  description = "VPC endpoint IDs by service (interface endpoints and the S3 gateway)."
  value       = merge({ for s, e in aws_vpc_endpoint.interface : s => e.id }, { s3 = aws_vpc_endpoint.s3.id })
}

output "vpc_endpoints_security_group_id" {
  description = "Security group of the interface VPC endpoints (HTTPS from the VPC)."
  value       = aws_security_group.endpoints.id
}
