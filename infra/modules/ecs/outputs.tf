output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "Name of each ECS service (also its task-definition family)."
  value = {
    orbit = aws_ecs_service.orbit.name
    axon  = aws_ecs_service.axon.name
  }
}

output "task_definition_arns" {
  description = "ARN (with revision) of each service's task definition."
  value       = { for key, definition in aws_ecs_task_definition.this : key => definition.arn }
}

output "log_group_names" {
  description = "Log group of each service."
  value       = { for key, group in aws_cloudwatch_log_group.service : key => group.name }
}

output "alb_dns_name" {
  description = "DNS name of the internal load balancer."
  value       = aws_lb.this.dns_name
}

output "alb_arn" {
  description = "ARN of the internal load balancer."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (the LoadBalancer dimension of its CloudWatch metrics)."
  value       = aws_lb.this.arn_suffix
}

output "orbit_target_group_arn_suffix" {
  description = "ARN suffix of Orbit's target group (the TargetGroup dimension of its CloudWatch metrics)."
  value       = aws_lb_target_group.orbit.arn_suffix
}

output "security_group_ids" {
  description = "Security group of the load balancer and of each service."
  value = {
    alb   = aws_security_group.alb.id
    orbit = aws_security_group.orbit.id
    axon  = aws_security_group.axon.id
  }
}

output "task_role_arns" {
  description = "Task (application) role of each service."
  value       = { for key, role in aws_iam_role.task : key => role.arn }
}

output "execution_role_arns" {
  description = "Task execution role of each service."
  value       = { for key, role in aws_iam_role.execution : key => role.arn }
}

output "service_connect_namespace_arn" {
  description = "ARN of the Service Connect (Cloud Map) namespace."
  value       = aws_service_discovery_http_namespace.this.arn
}

output "access_logs_bucket" {
  description = "S3 bucket of the load balancer's access logs."
  value       = aws_s3_bucket.access_logs.id
}

output "bedrock_resource_arns" {
  description = "Bedrock ARNs Axon's role may invoke: the model or inference profile, and the foundation models a profile routes to (empty with the builtin engine)."
  value       = concat(local.bedrock_direct_arns, local.bedrock_routed_model_arns)
}
