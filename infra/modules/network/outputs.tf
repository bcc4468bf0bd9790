output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "availability_zones" {
  description = "Availability Zones the subnets are spread over."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (NAT gateways only)."
  value       = [for subnet in aws_subnet.public : subnet.id]
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (ALB, Orbit, Lambda functions, interface endpoints)."
  value       = [for subnet in aws_subnet.private : subnet.id]
}

output "axon_subnet_ids" {
  description = "IDs of the isolated Axon runtime subnets (no route to the internet)."
  value       = [for subnet in aws_subnet.axon : subnet.id]
}

output "private_subnet_cidrs" {
  description = "CIDR blocks of the private subnets."
  value       = values(local.private_subnets)
}

output "axon_route_table_id" {
  description = "ID of the Axon subnets' route table (local and gateway-endpoint routes only)."
  value       = aws_route_table.axon.id
}

output "vpc_endpoints_security_group_id" {
  description = "ID of the interface endpoints' security group (workload groups allow HTTPS egress to it)."
  value       = aws_security_group.endpoints.id
}

output "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint, for security group egress rules."
  value       = aws_vpc_endpoint.s3.prefix_list_id
}

output "dynamodb_prefix_list_id" {
  description = "Prefix list of the DynamoDB gateway endpoint, for security group egress rules."
  value       = aws_vpc_endpoint.dynamodb.prefix_list_id
}

output "flow_log_group_name" {
  description = "Name of the VPC flow log group."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "interface_endpoint_ids" {
  description = "IDs of the interface VPC endpoints (what functions without internet access reach AWS through)."
  value       = [for endpoint in aws_vpc_endpoint.interface : endpoint.id]
}
