# Permissions boundary of every workload role (ECS task and execution roles, Lambda roles, the flow-log role).
# It is the ceiling of what any role the deploy role creates can ever do, whatever policy is later put on it:
# the project's own tables, secrets, functions, images and log groups, the account's KMS keys through their key
# policies, and the few calls AWS does not let us scope.

data "aws_iam_policy_document" "boundary" {
  #checkov:skip=CKV_AWS_111:The write actions on "*" (EC2 network interfaces of Lambda VPC access, X-Ray traces, CloudWatch metrics limited by namespace) do not support resource-level permissions.
  #checkov:skip=CKV_AWS_356:The "*" statements hold only calls without resource-level permissions (EC2 network interfaces, X-Ray, ecr:GetAuthorizationToken, secretsmanager:ListSecrets, cloudwatch:PutMetricData by namespace).
  statement {
    sid    = "ProjectTables"
    effect = "Allow"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
    ]
    resources = ["arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.project_name}-*"]
  }

  statement {
    sid    = "ProjectSecrets"
    effect = "Allow"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = ["arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.project_name}/*"]
  }

  statement {
    sid    = "AccountKeysThroughServices"
    effect = "Allow"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
    ]
    resources = ["arn:${local.partition}:kms:${local.region}:${local.account_id}:key/*"]
  }

  statement {
    sid       = "ProjectFunctions"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = ["arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${var.project_name}-*"]
  }

  # The project's log groups only (the naming contract's prefixes; each pattern's trailing * covers the group's
  # streams too).
  statement {
    sid    = "ProjectLogGroups"
    effect = "Allow"
    actions = [
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = local.project_log_groups
  }

  # Listing log groups reveals names only; VPC Flow Logs' delivery role needs it.
  statement {
    sid       = "ListLogGroups"
    effect    = "Allow"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }

  statement {
    sid    = "ProjectImages"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${var.project_name}/*"]
  }

  # The first pull of a third-party image through the project's pull-through cache imports it and creates its
  # repository (the ecr module; the ADOT collector sidecar).
  statement {
    sid       = "ProjectPullThroughCache"
    effect    = "Allow"
    actions   = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${var.project_name}/pub/*"]
  }

  statement {
    sid    = "BedrockModels"
    effect = "Allow"
    actions = [
      "bedrock:InvokeModel",
      "bedrock:InvokeModelWithResponseStream",
    ]
    resources = [
      "arn:${local.partition}:bedrock:*::foundation-model/*",
      "arn:${local.partition}:bedrock:*:${local.account_id}:inference-profile/*",
      "arn:${local.partition}:bedrock:*:${local.account_id}:application-inference-profile/*",
    ]
  }

  statement {
    sid    = "UnscopableCalls"
    effect = "Allow"
    actions = [
      "ec2:AssignPrivateIpAddresses",
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:UnassignPrivateIpAddresses",
      "ecr:GetAuthorizationToken",
      "secretsmanager:ListSecrets",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "ProjectMetrics"
    effect    = "Allow"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["${var.project_name}/*"]
    }
  }
}

resource "aws_iam_policy" "boundary" {
  name        = local.boundary_name
  description = "Permissions boundary of every ${var.project_name} workload role"
  policy      = data.aws_iam_policy_document.boundary.json

  tags = var.tags
}
