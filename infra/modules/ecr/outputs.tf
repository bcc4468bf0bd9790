output "repository_urls" {
  description = "URL of each service's repository (for docker push and the task definitions)."
  value       = { for key, repository in aws_ecr_repository.this : key => repository.repository_url }
}

output "repository_arns" {
  description = "ARN of each service's repository (for the pull and push permissions)."
  value       = { for key, repository in aws_ecr_repository.this : key => repository.arn }
}

output "repository_names" {
  description = "Name of each service's repository (<project>/<service>)."
  value       = { for key, repository in aws_ecr_repository.this : key => repository.name }
}

output "adot_collector_image" {
  description = "The ADOT collector image as the tasks pull it: adot_collector_image through this registry's pull-through cache."
  value       = "${local.registry}/${aws_ecr_pull_through_cache_rule.ecr_public.ecr_repository_prefix}/${local.collector_path}:${local.collector_tag}"
}

output "adot_collector_repository_arn" {
  description = "ARN of the pull-through-cache repository of the ADOT collector image (created by its first pull)."
  value       = "${local.repository_arns}/${local.cache_prefix}/${local.collector_path}"
}
