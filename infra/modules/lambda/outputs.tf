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
