# Task execution roles (what ECS itself needs to start a task: image pull, log stream, the `secrets` map) and task
# roles (what the application may call). One pair per service; each names its own resources only.

locals {
  secretsmanager_via = "secretsmanager.${local.region}.amazonaws.com" # pragma: allowlist secret (a name, not a secret)
  dynamodb_via       = "dynamodb.${local.region}.amazonaws.com"

  # Secrets each container receives through its `secrets` map (and re-reads through the API on rotation), and the
  # keys that encrypt them.
  service_secrets = {
    orbit = [var.secret_arns.orbit_signing_key]
    axon  = [var.secret_arns.orbit_signing_key, var.secret_arns.receipt_public_key]
  }
  service_secret_keys = {
    orbit = [var.kms_key_arns.orbit]
    axon  = [var.kms_key_arns.orbit, var.kms_key_arns.axon]
  }

  client_secrets_arn = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.project_name}/clients/*" # pragma: allowlist secret (a name, not a secret)
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

  statement {
    sid       = "ReadOwnSecrets"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.service_secrets[each.key]
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

  statement {
    sid       = "ReadClientCredentials"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.client_secrets_arn]
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
