# The secrets of the naming contract that Terraform owns. Client credentials (${project}/clients/<principal>) are
# created at run time by agentctl, encrypted with the orbit key, and are not managed here.
#
# Terraform creates the secrets empty and never holds a value: the key-rotation function generates every value,
# the first one included (its rotation is configured with rotate_immediately in the lambda module). So no key ever
# passes through the plan, the state or the deploy role, and the deploy role needs no read access to any of them.
#
# Each secret's resource policy denies reading and writing to every principal but the roles that must, and deleting
# to everyone: a Deny in a resource policy holds against any identity policy, an administrator's or the deploy
# role's included. The other way to a value, UpdateSecret (which Terraform needs for a secret's description, so it
# is not denied here), is closed for the deploy role by its own policy (NoServiceKeyValues in the cicd module).

locals {
  secrets = {
    orbit-signing-key = {
      kms_key     = "orbit"
      description = "Orbit's HMAC key for SigV4 requests to Axon: JSON {principal, access_key_id, secret_access_key}. Read by Orbit and Axon; written by the key-rotation function."
    }
    governance-receipt-key = {
      kms_key     = "governance"
      description = "Governance's Ed25519 private key (PKCS#8 PEM) that signs decision receipts. Read by the governance function and the key-rotation function only."
    }
    governance-receipt-public-key = {
      kms_key     = "axon"
      description = "Public half (SPKI PEM) of the governance receipt key. Read by Axon; written by the key-rotation function with each new private key."
    }
  }
}

resource "aws_secretsmanager_secret" "this" {
  for_each = local.secrets

  #checkov:skip=CKV2_AWS_57:Rotation of orbit-signing-key and governance-receipt-key is configured in the lambda module (aws_secretsmanager_secret_rotation); the receipt public key is rewritten by the private key's rotation, never rotated on its own.
  name                    = "${var.project_name}/${each.key}"
  description             = each.value.description
  kms_key_id              = aws_kms_key.this[each.value.kms_key].arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = merge(var.tags, { Name = "${var.project_name}/${each.key}" })
}

data "aws_iam_policy_document" "secret_access" {
  for_each = var.secret_access

  # One Deny per kind of access, for every principal but the roles listed; no readers listed leaves reads to IAM
  # (a public key is not a secret).
  dynamic "statement" {
    for_each = {
      for sid, rule in {
        OnlyTheseRolesRead  = { actions = ["secretsmanager:GetSecretValue"], roles = each.value.readers }
        OnlyTheseRolesWrite = { actions = ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"], roles = each.value.writers }
      } : sid => rule if length(rule.roles) > 0
    }

    content {
      sid       = statement.key
      effect    = "Deny"
      actions   = statement.value.actions
      resources = ["*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = statement.value.roles
      }
    }
  }

  # Deleting a key and creating one of the same name would drop this policy and the rotation: nobody may while the
  # policy stands. Destroying the environment (an administrator's) deletes the policy first, then the secret.
  statement {
    sid       = "NobodyDeletes"
    effect    = "Deny"
    actions   = ["secretsmanager:DeleteSecret"]
    resources = ["*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "this" {
  for_each = var.secret_access

  secret_arn          = aws_secretsmanager_secret.this[each.key].arn
  policy              = data.aws_iam_policy_document.secret_access[each.key].json
  block_public_policy = true
}
