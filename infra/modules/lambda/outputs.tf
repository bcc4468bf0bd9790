output "governance_function_name" {
  description = "Name of the governance function."
  value       = aws_lambda_function.governance.function_name
}

output "governance_function_arn" {
  description = "Unqualified ARN of the governance function."
  value       = aws_lambda_function.governance.arn
}

output "governance_alias_arn" {
  description = "ARN of the governance function's `live` alias (what Orbit invokes)."
  value       = aws_lambda_alias.live.arn
}

output "governance_alias_name" {
  description = "Name of the alias Orbit invokes."
  value       = aws_lambda_alias.live.name
}

output "governance_version" {
  description = "Version the `live` alias points at after this apply."
  value       = aws_lambda_function.governance.version
}

output "key_rotation_function_name" {
  description = "Name of the key-rotation function."
  value       = aws_lambda_function.key_rotation.function_name
}

output "key_rotation_function_arn" {
  description = "ARN of the key-rotation function."
  value       = aws_lambda_function.key_rotation.arn
}

output "governance_log_group_name" {
  description = "Log group of the governance function."
  value       = aws_cloudwatch_log_group.governance.name
}

output "governance_provisioned_concurrency" {
  description = "Provisioned concurrency of the live alias (0: none)."
  value       = var.governance.provisioned_concurrency
}

output "governance_role_arn" {
  description = "ARN of the governance function's execution role (the only reader of the receipt private key besides the rotation role)."
  value       = aws_iam_role.governance.arn
}

output "key_rotation_role_arn" {
  description = "ARN of the key-rotation function's execution role (the only writer of the service keys)."
  value       = aws_iam_role.key_rotation.arn
}

output "seeded_secret_arns" {
  description = "ARNs of the secrets the first rotation seeds, available once that rotation has started: consumers that read them at start-up (the ECS task definitions) take them from here to be ordered after it."
  value = {
    orbit_signing_key  = var.secret_arns.orbit_signing_key
    receipt_public_key = var.secret_arns.receipt_public_key
  }
  depends_on = [aws_secretsmanager_secret_rotation.this]
}

output "adot_collector_layer_arn" {
  description = "ARN of the ADOT collector layer attached to the governance function."
  value       = local.adot_layer_arn
}
