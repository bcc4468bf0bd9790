output "table_names" {
  description = "Name of each table, by short name (governance-policies, rate-limits, replay-cache)."
  value       = { for key, table in aws_dynamodb_table.this : key => table.name }
}

output "table_arns" {
  description = "ARN of each table, by short name (governance-policies, rate-limits, replay-cache)."
  value       = { for key, table in aws_dynamodb_table.this : key => table.arn }
}
