# One customer-managed KMS key per service (axon, orbit, governance), one for the data at rest in DynamoDB and one
# for logs and alarm notifications. Key policies name the account root for administration and for use through IAM
# policies (so the least-privilege IAM policies of each role decide who may use which key), and the AWS services
# that need a key of their own by service principal, with conditions. No wildcard principal, no kms:*.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"

  keys = {
    axon       = "Axon: its secrets (receipt public key) and its container images"
    orbit      = "Orbit: the Orbit-to-Axon signing key, client credentials and its container images"
    governance = "Governance: the decision-receipt signing key and the Lambda environment"
    data       = "DynamoDB tables (policies, rate limits, replay cache)"
    logs       = "CloudWatch Logs log groups and the alarm SNS topic"
  }

  # Log groups the logs key may encrypt (CloudWatch Logs passes the log group ARN as encryption context).
  log_group_arn_patterns = [
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/ecs/${var.project_name}-*",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.project_name}-*",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vpc/${var.project_name}-*",
  ]

  key_admin_actions = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]
}

data "aws_iam_policy_document" "key" {
  for_each = local.keys

  # A key policy's Resource "*" is the key itself; administration is delegated to IAM in this account only.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" is the key itself; writes are delegated to IAM in this account only.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" is the key itself, not every resource.
  statement {
    sid       = "KeyAdministrationThroughIam"
    effect    = "Allow"
    actions   = local.key_admin_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  statement {
    sid    = "KeyUseThroughIam"
    effect = "Allow"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  # DynamoDB, ECR and Lambda use grants on the key; only AWS services may hold them.
  statement {
    sid       = "GrantsForAwsServices"
    effect    = "Allow"
    actions   = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []

    content {
      sid    = "CloudWatchLogsForProjectLogGroups"
      effect = "Allow"
      actions = [
        "kms:Decrypt*",
        "kms:Describe*",
        "kms:Encrypt*",
        "kms:GenerateDataKey*",
        "kms:ReEncrypt*",
      ]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["logs.${local.region}.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = local.log_group_arn_patterns
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []

    content {
      sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  for_each = local.keys

  description             = "${var.project_name} ${each.key}: ${each.value}"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key[each.key].json

  tags = merge(var.tags, { Name = "${var.project_name}-${each.key}", Service = each.key })
}

resource "aws_kms_alias" "this" {
  for_each = local.keys

  name          = "alias/${var.project_name}-${each.key}"
  target_key_id = aws_kms_key.this[each.key].key_id
}
