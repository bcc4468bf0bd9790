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
