# Execution roles. Each can touch only its own tables, secrets, keys and log group, plus what every function in a
# VPC with active tracing needs (network interfaces, X-Ray), none of which can be scoped to a resource.
#
# No statement for the functions' environment variables: Lambda decrypts them with the governance key through a
# grant it creates for the execution role when the function is created or updated. (The former statements keyed
# on kms:EncryptionContext:LambdaFunctionName, the context of the console's client-side encryption helpers, which
# this code never uses: they could never match.) tests/infra/test_iam_vs_code.py derives every other action here
# from the code's boto3 calls.

# Only functions of this account can use these roles: attaching a role to a function takes iam:PassRole here.
# (No aws:SourceAccount condition: Lambda does not document it for execution-role trust, and a condition it does
# not send would make the role unassumable.)
data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "lambda_runtime" {
  #checkov:skip=CKV_AWS_111:EC2 network-interface calls made by Lambda for VPC access do not support resource-level permissions.
  #checkov:skip=CKV_AWS_356:X-Ray PutTraceSegments/PutTelemetryRecords and the EC2 network-interface calls for VPC access do not support resource-level permissions.
  statement {
    sid    = "VpcNetworkInterfaces"
    effect = "Allow"
    actions = [
      "ec2:AssignPrivateIpAddresses",
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "XRayTracing"
    effect    = "Allow"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

# Governance ---------------------------------------------------------------------------------------------------

resource "aws_iam_role" "governance" {
  name                 = local.governance_name
  description          = "Governance Lambda execution role"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

data "aws_iam_policy_document" "governance" {
  #checkov:skip=CKV_AWS_356:xray:GetSamplingRules and GetSamplingTargets do not support resource-level permissions.
  source_policy_documents = [data.aws_iam_policy_document.lambda_runtime.json]

  # The policy store is read by key (the live pointer, a manifest, its policy items): no Query, no Scan.
  statement {
    sid       = "ReadPolicies"
    effect    = "Allow"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:GetItem"]
    resources = [var.table_arns.policies]
  }

  # One atomic UpdateItem ADD per counter; nothing else touches the table.
  statement {
    sid       = "CountRateLimits"
    effect    = "Allow"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.table_arns.rate_limits]
  }

  # One PutItem per decision; the function never reads the log back (the table's resource policy also denies it).
  statement {
    sid       = "RecordDecisions"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem"]
    resources = [var.table_arns.decision_log]
  }

  # The ADOT collector extension exports the function's spans with the PutTraceSegments of lambda_runtime; the
  # sampling reads let X-Ray's remote sampling be configured without an IAM change. Neither can be scoped.
  statement {
    sid       = "XRaySampling"
    effect    = "Allow"
    actions   = ["xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadReceiptKey"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.secret_arns.receipt_private_key]
  }

  statement {
    sid       = "DecryptReceiptKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arns.governance]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "UseTableKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arns.data]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.governance.arn}:*"]
  }
}

resource "aws_iam_role_policy" "governance" {
  name   = "governance"
  role   = aws_iam_role.governance.id
  policy = data.aws_iam_policy_document.governance.json
}

# Key rotation -------------------------------------------------------------------------------------------------

resource "aws_iam_role" "key_rotation" {
  name                 = local.key_rotation_name
  description          = "Key-rotation Lambda execution role"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

data "aws_iam_policy_document" "key_rotation" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_runtime.json]

  # New versions of the project's keys only: the seeded keys and the agentctl client credentials. Not the bearer
  # tokens of MCP targets (<project>/targets/*): those are a third party's, set by operators, never rotated here.
  statement {
    sid    = "RotateProjectSecrets"
    effect = "Allow"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = concat(values(var.secret_arns), ["arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.project_name}/clients/*"])
  }

  statement {
    sid    = "UseSecretKeys"
    effect = "Allow"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
    ]
    resources = [var.kms_key_arns.axon, var.kms_key_arns.orbit, var.kms_key_arns.governance]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }


  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.key_rotation.arn}:*"]
  }
}

resource "aws_iam_role_policy" "key_rotation" {
  name   = "key-rotation"
  role   = aws_iam_role.key_rotation.id
  policy = data.aws_iam_policy_document.key_rotation.json
}
