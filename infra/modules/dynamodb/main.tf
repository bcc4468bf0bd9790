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
