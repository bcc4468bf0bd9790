# Task execution roles (what ECS itself needs to start a task: image pull, log stream, the `secrets` map) and task
# roles (what the application may call). One pair per service; each names its own resources only.

locals {
  secretsmanager_via = "secretsmanager.${local.region}.amazonaws.com" # pragma: allowlist secret (a name, not a secret)
  dynamodb_via       = "dynamodb.${local.region}.amazonaws.com"

  # Secrets each container receives through its `secrets` map (and re-reads through the API on rotation), and the
  # keys that encrypt them. Orbit publishes the receipt public key to MCP upstreams; Axon verifies receipts with it.
  service_secrets = {
    orbit = [var.secret_arns.orbit_signing_key, var.secret_arns.receipt_public_key]
    axon  = [var.secret_arns.orbit_signing_key, var.secret_arns.receipt_public_key]
  }
  service_secret_keys = {
    orbit = [var.kms_key_arns.orbit, var.kms_key_arns.axon]
    axon  = [var.kms_key_arns.orbit, var.kms_key_arns.axon]
  }

  secret_arn_prefix = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.project_name}" # pragma: allowlist secret (a name, not a secret)
  # Client credentials (agentctl keys) and the bearer tokens of MCP targets (agentctl's tools commands), both
  # encrypted with the orbit key.
  client_secrets_arn = "${local.secret_arn_prefix}/clients/*"
  target_secrets_arn = "${local.secret_arn_prefix}/targets/*"
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

# Execution roles ------------------------------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  for_each = local.service_names

  name                 = "${each.value}-execution"
  description          = "ECS task execution role of ${each.value}"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = var.permissions_boundary_arn

  tags = merge(var.tags, { Service = each.key })
}

data "aws_iam_policy_document" "execution" {
  for_each = local.service_names

  # ecr:GetAuthorizationToken does not support resource-level permissions; the pulls themselves are limited to the service's repository.
  statement {
    sid       = "EcrLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid    = "PullOwnImage"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.ecr_repository_arns[each.key]]
  }

  # The ADOT collector's image, through the project's ECR pull-through cache of ECR Public (the ecr module): the
  # first pull of a tag imports it from upstream and creates the cache repository, hence the last two actions.
  statement {
    sid    = "PullCollectorImageThroughCache"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:BatchImportUpstreamImage",
      "ecr:CreateRepository",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.adot_collector_repository_arn]
  }

  statement {
    sid     = "WriteOwnLogs"
    effect  = "Allow"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "${aws_cloudwatch_log_group.service[each.key].arn}:*",
      "${aws_cloudwatch_log_group.service_connect.arn}:*",
    ]
  }

  statement {
    sid       = "InjectSecrets"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.service_secrets[each.key]
  }

  statement {
    sid       = "DecryptSecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = local.service_secret_keys[each.key]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.secretsmanager_via]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.service_names

  name   = "task-execution"
  role   = aws_iam_role.execution[each.key].id
  policy = data.aws_iam_policy_document.execution[each.key].json
}

# Task roles -----------------------------------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  for_each = local.service_names

  name                 = "${each.value}-task"
  description          = "Application role of ${each.value}"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = var.permissions_boundary_arn

  tags = merge(var.tags, { Service = each.key })
}

data "aws_iam_policy_document" "task_common" {
  for_each = local.service_names

  #checkov:skip=CKV_AWS_356:The X-Ray calls of the collector sidecar (PutTraceSegments, PutTelemetryRecords, GetSampling*) do not support resource-level permissions.
  statement {
    sid       = "ReadOwnSecrets"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.service_secrets[each.key]
  }

  # The key cache notices a rotation by the signing key's version stages, without reading the value.
  statement {
    sid       = "WatchSigningKeyVersions"
    effect    = "Allow"
    actions   = ["secretsmanager:DescribeSecret"]
    resources = [var.secret_arns.orbit_signing_key]
  }

  # The ADOT collector sidecar exports the task's spans; the sampling reads let X-Ray's remote sampling be
  # configured without an IAM change.
  statement {
    sid    = "XRayTraceExport"
    effect = "Allow"
    actions = [
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DecryptOwnSecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = local.service_secret_keys[each.key]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.secretsmanager_via]
    }
  }

  # One conditional PutItem per signature (and per receipt at Axon): the condition is the replay check, no read.
  statement {
    sid       = "ReplayCache"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem"]
    resources = [var.replay_table_arn]
  }

  statement {
    sid       = "UseTableKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arns.data]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.dynamodb_via]
    }
  }
}

data "aws_iam_policy_document" "orbit_task" {
  # secretsmanager:ListSecrets cannot be scoped to resources; Orbit lists the client credentials under <project>/clients/ and can read only those.
  source_policy_documents = [data.aws_iam_policy_document.task_common["orbit"].json]

  statement {
    sid       = "InvokeGovernanceLiveAlias"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = [var.governance_alias_arn]
  }

  # DescribeSecret: ListSecrets can lag minutes behind, so each TTL reload confirms every listed credential
  # (a revoked one is gone, a rotated one re-read) with DescribeSecret, which is consistent.
  statement {
    sid       = "ReadClientCredentials"
    effect    = "Allow"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = [local.client_secrets_arn]
  }

  # The bearer tokens of MCP targets whose authentication is `bearer`, read when Orbit calls them.
  statement {
    sid       = "ReadTargetTokens"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.target_secrets_arn]
  }

  # The MCP targets and their tools (agent_runtime.tools.ToolStore.targets reads the whole small table).
  statement {
    sid       = "ReadTools"
    effect    = "Allow"
    actions   = ["dynamodb:Scan"]
    resources = [var.tools_table_arn]
  }

  statement {
    sid       = "ListClientCredentials"
    effect    = "Allow"
    actions   = ["secretsmanager:ListSecrets"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "axon_task" {
  source_policy_documents = [data.aws_iam_policy_document.task_common["axon"].json]

  # The Converse API is authorised by bedrock:InvokeModel (ConverseStream, which Axon does not use, by
  # ...WithResponseStream), on the model or inference profile named in the call.
  dynamic "statement" {
    for_each = var.axon_engine == "bedrock" ? [1] : []

    content {
      sid       = "InvokeConfiguredModel"
      effect    = "Allow"
      actions   = ["bedrock:InvokeModel"]
      resources = local.bedrock_direct_arns
    }
  }

  # Through an inference profile, Bedrock also authorises the call on the foundation model in whichever Region
  # the profile routes it to; those grants hold only for calls made through this profile.
  dynamic "statement" {
    for_each = var.axon_engine == "bedrock" && length(local.bedrock_routed_model_arns) > 0 ? [1] : []

    content {
      sid       = "InvokeModelsThroughProfile"
      effect    = "Allow"
      actions   = ["bedrock:InvokeModel"]
      resources = local.bedrock_routed_model_arns

      condition {
        test     = "StringEquals"
        variable = "bedrock:InferenceProfileArn"
        values   = [local.bedrock_profile_arn]
      }
    }
  }
}

resource "aws_iam_role_policy" "orbit_task" {
  name   = "orbit"
  role   = aws_iam_role.task["orbit"].id
  policy = data.aws_iam_policy_document.orbit_task.json
}

resource "aws_iam_role_policy" "axon_task" {
  name   = "axon"
  role   = aws_iam_role.task["axon"].id
  policy = data.aws_iam_policy_document.axon_task.json
}
