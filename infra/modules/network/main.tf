# VPC across az_count AZs with three tiers of subnets:
#   public   - NAT gateways only (nothing else runs there; no public IPs are assigned on launch);
#   private  - the internal ALB, Orbit, the Lambda functions and the interface VPC endpoints; default route to NAT;
#   axon     - the Axon runtime; NO route to the internet at all: local VPC traffic and the S3/DynamoDB gateway
#              endpoints only, so every AWS API is reached through a VPC endpoint.
# The first AZ keeps the specification's blocks (public 10.0.1.0/24, private 10.0.2.0/24, Axon 10.0.3.0/24); each
# further AZ takes the next three /24 blocks.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The AZs are named explicitly (a new AZ in the region never changes the subnet layout); the data source only
# checks that each named zone exists and is available.
data "aws_availability_zones" "selected" {
  state = "available"

  filter {
    name   = "zone-name"
    values = local.requested_azs
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(local.requested_azs)
      error_message = "Not every requested Availability Zone is available in this region; set availability_zones explicitly."
    }
  }
}

locals {
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  requested_azs = length(var.availability_zones) > 0 ? var.availability_zones : [
    for suffix in slice(["a", "b", "c"], 0, var.az_count) : "${local.region}${suffix}"
  ]
  azs = sort(data.aws_availability_zones.selected.names)

  public_subnets  = { for index, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, 1 + 3 * index) }
  private_subnets = { for index, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, 2 + 3 * index) }
  axon_subnets    = { for index, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, 3 + 3 * index) }

  nat_azs = var.single_nat_gateway ? [local.azs[0]] : local.azs
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = "${var.project_name}-vpc" })
}

# The default security group of the VPC allows nothing; every workload has its own group.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.project_name}-default-deny-all" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.project_name}-igw" })
}

resource "aws_subnet" "public" {
  for_each = local.public_subnets

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.project_name}-public-${each.key}", Tier = "public" })
}

resource "aws_subnet" "private" {
  for_each = local.private_subnets

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.project_name}-private-${each.key}", Tier = "private" })
}

resource "aws_subnet" "axon" {
  for_each = local.axon_subnets

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.project_name}-axon-${each.key}", Tier = "axon-runtime" })
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_azs)

  domain = "vpc"

  tags = merge(var.tags, { Name = "${var.project_name}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  for_each = toset(local.nat_azs)

  allocation_id     = aws_eip.nat[each.key].id
  subnet_id         = aws_subnet.public[each.key].id
  connectivity_type = "public"

  tags = merge(var.tags, { Name = "${var.project_name}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

# Public tier: default route to the internet gateway (used by the NAT gateways).
resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.project_name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

# Private tier: one route table per AZ, default route to that AZ's NAT gateway (or the single one).
resource "aws_route_table" "private" {
  for_each = local.private_subnets

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.project_name}-private-${each.key}" })
}

resource "aws_route" "private_nat" {
  for_each = aws_route_table.private

  route_table_id         = each.value.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? local.azs[0] : each.key].id
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

# Axon runtime tier: no aws_route targets this table. Only the implicit local route and the gateway endpoint
# routes (S3, DynamoDB) exist; tests/infra asserts it.
resource "aws_route_table" "axon" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.project_name}-axon-isolated" })
}

resource "aws_route_table_association" "axon" {
  for_each = aws_subnet.axon

  subnet_id      = each.value.id
  route_table_id = aws_route_table.axon.id
}

# VPC flow logs of every accepted and rejected flow, to an encrypted log group.
resource "aws_cloudwatch_log_group" "flow_logs" {
  #checkov:skip=CKV_AWS_338:Retention is a variable, 30 days by the specification (1-year archives are an export to S3, see the runbook).
  name              = "/aws/vpc/${var.project_name}-flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.logs_kms_key_arn

  tags = var.tags
}

resource "aws_flow_log" "this" {
  vpc_id                   = aws_vpc.this.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn             = aws_iam_role.flow_logs.arn
  max_aggregation_interval = 60

  tags = merge(var.tags, { Name = "${var.project_name}-flow-logs" })
}
