# 30-day rotation of the keys Terraform creates (empty), through the key-rotation function. The receipt public key
# is not scheduled on its own: rotating the private key writes the matching public key.
#
# The first rotation happens during the first apply (rotate_immediately) and gives each secret its first value:
# Terraform never generates, sees or stores a key. It starts once the interface endpoints the function reaches
# Secrets Manager through exist, and the consumers of the secrets (the ECS task definitions) are ordered after it
# through the seeded_secret_arns output. Secrets Manager runs the four steps asynchronously within seconds; an
# ECS task that starts before they finish fails to fetch its secrets and is started again by ECS.

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

# Orders the first rotation after the endpoints (the function has no other way to Secrets Manager).
resource "terraform_data" "endpoints_ready" {
  input = var.vpc_endpoint_ids
}

resource "aws_secretsmanager_secret_rotation" "this" {
  for_each = local.rotated_secrets

  secret_id           = each.value
  rotation_lambda_arn = aws_lambda_function.key_rotation.arn
  # The secrets are created empty: the first rotation writes their first value. (rotate_immediately acts when the
  # rotation is configured, not on later applies.)
  rotate_immediately = true

  rotation_rules {
    automatically_after_days = var.rotation_days
  }

  depends_on = [aws_lambda_permission.secrets_manager, terraform_data.endpoints_ready]
}
