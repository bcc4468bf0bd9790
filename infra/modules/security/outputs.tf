output "kms_key_arns" {
  description = "ARN of each customer-managed KMS key, by purpose (axon, orbit, governance, data, logs)."
  value       = { for name, key in aws_kms_key.this : name => key.arn }
}

output "kms_key_aliases" {
  description = "Alias of each customer-managed KMS key, by purpose (alias/<project>-<purpose>)."
  value       = { for name, alias in aws_kms_alias.this : name => alias.name }
}

output "secret_arns" {
  description = "ARN of each Terraform-managed secret, by short name (orbit-signing-key, governance-receipt-key, governance-receipt-public-key)."
  value       = { for name, secret in aws_secretsmanager_secret.this : name => secret.arn }
}

output "secret_names" {
  description = "Name of each Terraform-managed secret, by short name."
  value       = { for name, secret in aws_secretsmanager_secret.this : name => secret.name }
}

output "secret_kms_keys" {
  description = "Purpose of the KMS key (a key of kms_key_arns) that encrypts each secret, by short name."
  value       = { for name, secret in local.secrets : name => secret.kms_key }
}
