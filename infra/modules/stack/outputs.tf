output "alb_dns_name" {
  description = "DNS name of the internal load balancer (HTTPS)."
  value       = module.ecs.alb_dns_name
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = module.ecs.cluster_name
}

output "service_names" {
  description = "Name of each ECS service (orbit, axon)."
  value       = module.ecs.service_names
}

output "log_group_names" {
  description = "Log group of each ECS service and of the governance function."
  value       = merge(module.ecs.log_group_names, { governance = module.lambda.governance_log_group_name })
}

output "governance_function_name" {
  description = "Name of the governance Lambda function."
  value       = module.lambda.governance_function_name
}

output "governance_alias_arn" {
  description = "ARN of the governance function's `live` alias."
  value       = module.lambda.governance_alias_arn
}

output "governance_version" {
  description = "Version of the governance function the `live` alias points at."
  value       = module.lambda.governance_version
}

output "key_rotation_function_name" {
  description = "Name of the key-rotation Lambda function."
  value       = module.lambda.key_rotation_function_name
}

output "table_names" {
  description = "Name of each DynamoDB table, by short name."
  value       = module.dynamodb.table_names
}

output "ecr_repository_urls" {
  description = "URL of each service's ECR repository."
  value       = module.ecr.repository_urls
}

output "kms_key_arns" {
  description = "ARN of each customer-managed KMS key, by purpose."
  value       = module.security.kms_key_arns
}

output "kms_key_aliases" {
  description = "Alias of each customer-managed KMS key, by purpose (alias/<project>-orbit encrypts client credentials)."
  value       = module.security.kms_key_aliases
}

output "secret_names" {
  description = "Name of each Terraform-managed secret, by short name."
  value       = module.security.secret_names
}

output "sns_topic_arn" {
  description = "ARN of the alarm topic."
  value       = module.observability.sns_topic_arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = module.observability.dashboard_name
}

output "deploy_role_arn" {
  description = "ARN of the GitHub Actions deploy role (null until github_repository is set)."
  value       = module.cicd.deploy_role_arn
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}

output "bedrock_resource_arns" {
  description = "Bedrock ARNs Axon's role may invoke (empty with the builtin engine)."
  value       = module.ecs.bedrock_resource_arns
}

output "governance_provisioned_concurrency" {
  description = "Provisioned concurrency of the governance function's live alias (0: none)."
  value       = module.lambda.governance_provisioned_concurrency
}

output "trace_sampling_ratio" {
  description = "Share of new traces the services record (OTEL_TRACES_SAMPLER_ARG)."
  value       = var.trace_sampling_ratio
}

output "decision_log_readers" {
  description = "Roles that may query the decision log (its resource policy denies everyone else)."
  value       = compact(concat([module.cicd.deploy_role_arn], var.operator_role_arns))
}
