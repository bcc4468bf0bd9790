# 30-day rotation of the keys Terraform seeded, through the key-rotation function. The receipt public key is not
# scheduled on its own: rotating the private key writes the matching public key.

locals {
  rotated_secrets = {
    orbit-signing-key      = var.secret_arns.orbit_signing_key
    governance-receipt-key = var.secret_arns.receipt_private_key
  }
}

resource "aws_lambda_permission" "secrets_manager" {
  for_each = local.rotated_secrets

  statement_id   = "SecretsManagerRotation-${each.key}"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.key_rotation.function_name
  principal      = "secretsmanager.amazonaws.com"
  source_arn     = each.value
  source_account = local.account_id
}

resource "aws_secretsmanager_secret_rotation" "this" {
  for_each = local.rotated_secrets

  secret_id           = each.value
  rotation_lambda_arn = aws_lambda_function.key_rotation.arn
  # Terraform seeds the first value itself; the first rotation happens on schedule, not during the apply.
  rotate_immediately = false

  rotation_rules {
    automatically_after_days = var.rotation_days
  }

  depends_on = [aws_lambda_permission.secrets_manager]
}
