output "table_names" {
  description = "Name of each table, by short name (governance-policies, rate-limits, replay-cache, tools, decision-log)."
  value       = merge({ for key, table in aws_dynamodb_table.this : key => table.name }, { decision-log = aws_dynamodb_table.decision_log.name })
}

output "table_arns" {
  description = "ARN of each table, by short name (governance-policies, rate-limits, replay-cache, tools, decision-log)."
  value       = merge({ for key, table in aws_dynamodb_table.this : key => table.arn }, { decision-log = aws_dynamodb_table.decision_log.arn })
}
