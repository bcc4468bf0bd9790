output "deploy_role_arn" {
  description = "ARN of the role GitHub Actions assumes to deploy (role-to-assume); null without github_repository."
  value       = one(aws_iam_role.deploy[*].arn)
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub Actions OIDC provider; null without github_repository."
  value       = local.oidc_provider_arn
}

output "permissions_boundary_arn" {
  description = "ARN of the permissions boundary every workload role carries."
  value       = aws_iam_policy.boundary.arn
}
