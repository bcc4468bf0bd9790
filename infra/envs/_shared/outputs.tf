# Outputs of every environment, shared through symbolic links (see variables.tf beside this file).

output "alb_dns_name" {
  description = "DNS name of the internal load balancer (HTTPS)."
  value       = module.stack.alb_dns_name
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = module.stack.cluster_name
}

output "service_names" {
  description = "Name of each ECS service (orbit, axon)."
  value       = module.stack.service_names
}

output "log_group_names" {
  description = "Log group of each ECS service and of the governance function."
  value       = module.stack.log_group_names
}

output "governance_function_name" {
  description = "Name of the governance Lambda function."
  value       = module.stack.governance_function_name
}

output "governance_alias_arn" {
  description = "ARN of the governance function's live alias."
  value       = module.stack.governance_alias_arn
}

output "governance_version" {
  description = "Version of the governance function the live alias points at."
  value       = module.stack.governance_version
}

output "key_rotation_function_name" {
  description = "Name of the key-rotation Lambda function."
  value       = module.stack.key_rotation_function_name
}

output "table_names" {
  description = "Name of each DynamoDB table, by short name."
  value       = module.stack.table_names
}

output "ecr_repository_urls" {
  description = "URL of each service's ECR repository."
  value       = module.stack.ecr_repository_urls
}

output "kms_key_arns" {
  description = "ARN of each customer-managed KMS key, by purpose."
  value       = module.stack.kms_key_arns
}

output "kms_key_aliases" {
  description = "Alias of each customer-managed KMS key, by purpose."
  value       = module.stack.kms_key_aliases
}

output "secret_names" {
  description = "Name of each Terraform-managed secret, by short name."
  value       = module.stack.secret_names
}

output "sns_topic_arn" {
  description = "ARN of the alarm topic."
  value       = module.stack.sns_topic_arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = module.stack.dashboard_name
}

output "deploy_role_arn" {
  description = "ARN of the GitHub Actions deploy role (null until github_repository is set)."
  value       = module.stack.deploy_role_arn
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.stack.vpc_id
}

output "bedrock_resource_arns" {
  description = "Bedrock ARNs Axon's role may invoke (empty with the builtin engine)."
  value       = module.stack.bedrock_resource_arns
}

output "governance_provisioned_concurrency" {
  description = "Provisioned concurrency of the governance function's live alias (0: none)."
  value       = module.stack.governance_provisioned_concurrency
}

output "trace_sampling_ratio" {
  description = "Share of new traces the services record (OTEL_TRACES_SAMPLER_ARG)."
  value       = module.stack.trace_sampling_ratio
}

output "decision_log_readers" {
  description = "Roles that may query the decision log (its resource policy denies everyone else)."
  value       = module.stack.decision_log_readers
}
