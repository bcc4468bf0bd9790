# The project's tables. Names, key schemas and TTL attributes are the ones the local bootstrap creates from
# agent_runtime.tables.table_definitions(); tests/infra/test_table_parity.py keeps the two in step.

locals {
  tables = {
    # One item per Cedar policy (policy_id = its @id annotation), plus the policy-set version item.
    governance-policies = { hash_key = "policy_id", hash_key_type = "S", ttl_attribute = null }
    # Fixed-window rate-limit counters and the limit settings; counters expire through TTL.
    rate-limits = { hash_key = "pk", hash_key_type = "S", ttl_attribute = "expires_at" }
    # Signatures already accepted (SigV4 replay protection across replicas) and used receipts.
    replay-cache = { hash_key = "pk", hash_key_type = "S", ttl_attribute = "expires_at" }
    # MCP targets and the tools of their synced generation (agent_runtime.tools.ToolStore): written by operators
    # (agentctl's tools commands), scanned by Orbit.
    tools = { hash_key = "pk", hash_key_type = "S", ttl_attribute = null }
  }
}

resource "aws_dynamodb_table" "this" {
  for_each = local.tables

  name                        = "${var.project_name}-${each.key}"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = each.value.hash_key
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = each.value.hash_key
    type = each.value.hash_key_type
  }

  dynamic "ttl" {
    for_each = each.value.ttl_attribute == null ? [] : [each.value.ttl_attribute]

    content {
      enabled        = true
      attribute_name = ttl.value
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = merge(var.tags, { Name = "${var.project_name}-${each.key}" })
}

# The decision log (agent_runtime.decision_log): every decision's Cedar request, by hour and shard (pk) and time
# (sk), expired by TTL after the retention the governance function writes into expires_at. The one table with a sort
# key and a resource policy, hence its own resource.
resource "aws_dynamodb_table" "decision_log" {
  name                        = "${var.project_name}-decision-log"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    enabled        = true
    attribute_name = "expires_at"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = merge(var.tags, { Name = "${var.project_name}-decision-log" })
}

# Readable only by operators, whatever identity policies say (an administrator's included): the table's resource
# policy denies every principal but the governance function the writes, every principal but the operators' roles
# the one read the code makes (Query, by hour), and everyone the reads and copies nobody needs (Scan, GetItem,
# PartiQL, exports, backups, restores). Writes and deletes of records never happen (TTL expires them inside
# DynamoDB, which no policy governs). The deploy role may not change this policy (no dynamodb:PutResourcePolicy):
# an administrator's apply puts it, as for the service keys' policies.
data "aws_iam_policy_document" "decision_log" {
  statement {
    sid       = "OnlyGovernanceRecords"
    effect    = "Deny"
    actions   = ["dynamodb:PutItem"]
    resources = [aws_dynamodb_table.decision_log.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = var.decision_log_writer_arns
    }
  }

  # Without any operator role (no deploy role, no operator_role_arns) nobody may read the log at all.
  statement {
    sid       = "OnlyOperatorsQuery"
    effect    = "Deny"
    actions   = ["dynamodb:Query"]
    resources = [aws_dynamodb_table.decision_log.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    dynamic "condition" {
      for_each = length(var.decision_log_reader_arns) > 0 ? [1] : []

      content {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = var.decision_log_reader_arns
      }
    }
  }

  statement {
    sid    = "NobodyScansCopiesOrRewrites"
    effect = "Deny"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:CreateBackup",
      "dynamodb:DeleteItem",
      "dynamodb:ExportTableToPointInTime",
      "dynamodb:GetItem",
      "dynamodb:PartiQLDelete",
      "dynamodb:PartiQLInsert",
      "dynamodb:PartiQLSelect",
      "dynamodb:PartiQLUpdate",
      "dynamodb:RestoreTableToPointInTime",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
    ]
    resources = [aws_dynamodb_table.decision_log.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

resource "aws_dynamodb_resource_policy" "decision_log" {
  resource_arn = aws_dynamodb_table.decision_log.arn
  policy       = data.aws_iam_policy_document.decision_log.json
}
