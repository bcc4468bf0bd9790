# VPC endpoints: the only way out of the Axon subnets, and the private path for everything else.
# Gateway endpoints (free) for S3 and DynamoDB, on the private and Axon route tables; interface endpoints in the
# private subnets (one ENI per AZ where the service is offered), with private DNS so the SDKs' default endpoints
# resolve to them VPC-wide.

locals {
  interface_endpoints = toset(concat([
    "bedrock-runtime",
    "ecr.api",
    "ecr.dkr",
    "kms",
    "lambda",
    "logs",
    "secretsmanager",
    "sts",
    # Traces: the ADOT collectors (the ECS sidecars and the governance function's extension) call PutTraceSegments.
    "xray",
  ], var.extra_interface_endpoints))

  gateway_route_table_ids = concat([for table in aws_route_table.private : table.id], [aws_route_table.axon.id])
}

data "aws_vpc_endpoint_service" "interface" {
  for_each = local.interface_endpoints

  service      = each.key
  service_type = "Interface"
}

resource "aws_security_group" "endpoints" {
  name        = "${var.project_name}-vpc-endpoints"
  description = "Interface VPC endpoints: HTTPS from inside the VPC only"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.project_name}-vpc-endpoints" })
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS to the AWS APIs from workloads in the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = aws_vpc.this.cidr_block

  tags = var.tags
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_endpoints

  vpc_id              = aws_vpc.this.id
  service_name        = data.aws_vpc_endpoint_service.interface[each.key].service_name
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  security_group_ids  = [aws_security_group.endpoints.id]
  subnet_ids = [
    for az, subnet in aws_subnet.private : subnet.id
    if contains(data.aws_vpc_endpoint_service.interface[each.key].availability_zones, az)
  ]

  tags = merge(var.tags, { Name = "${var.project_name}-${each.key}" })
}

# S3 is reached only for ECR image layers (Fargate pulls them through the task's network interface).
data "aws_iam_policy_document" "s3_endpoint" {
  #checkov:skip=CKV_AWS_283:ECR hands out pre-signed URLs of its own layer bucket, so the caller is not a principal of this account; the endpoint allows nothing but s3:GetObject on that one bucket.
  statement {
    sid       = "EcrImageLayersOnly"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::prod-${local.region}-starport-layer-bucket/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.gateway_route_table_ids
  policy            = data.aws_iam_policy_document.s3_endpoint.json

  tags = merge(var.tags, { Name = "${var.project_name}-s3" })
}

# DynamoDB: only this project's tables, only from principals of this account.
data "aws_iam_policy_document" "dynamodb_endpoint" {
  statement {
    sid    = "ProjectTablesOnly"
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
    resources = [
      "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.project_name}-*",
      "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.project_name}-*/index/*",
    ]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_vpc_endpoint" "dynamodb" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.gateway_route_table_ids
  policy            = data.aws_iam_policy_document.dynamodb_endpoint.json

  tags = merge(var.tags, { Name = "${var.project_name}-dynamodb" })
}
