# Security groups: clients -> ALB -> Orbit -> Axon, nothing else inbound. Egress is limited to the next hop and to
# HTTPS towards the VPC endpoints (interface endpoints by group, S3 and DynamoDB gateway endpoints by prefix list),
# plus, for Orbit only, HTTPS to the networks of the MCP upstream servers an operator lists.

locals {
  alb_client_cidrs = distinct(concat([var.vpc_cidr], var.client_cidr_blocks))
}

resource "aws_security_group" "alb" {
  name        = "${var.project_name}-alb"
  description = "Internal ALB: HTTPS (and HTTP that redirects) from the VPC and listed client networks"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.project_name}-alb" })
}

resource "aws_security_group" "orbit" {
  name        = "${var.project_name}-orbit"
  description = "Orbit tasks: from the ALB only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.project_name}-orbit" })
}

resource "aws_security_group" "axon" {
  name        = "${var.project_name}-axon"
  description = "Axon tasks: from Orbit only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.project_name}-axon" })
}

# ALB ------------------------------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(local.alb_client_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from client network ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_redirect" {
  for_each = toset(local.alb_client_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from client network ${each.value} (answered with a redirect to HTTPS)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_orbit" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to Orbit tasks and run their health checks"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.orbit
  to_port                      = local.ports.orbit
  referenced_security_group_id = aws_security_group.orbit.id
}

# Orbit ----------------------------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "orbit_from_alb" {
  security_group_id            = aws_security_group.orbit.id
  description                  = "Requests and health checks from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.orbit
  to_port                      = local.ports.orbit
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "orbit_to_axon" {
  security_group_id            = aws_security_group.orbit.id
  description                  = "Signed calls to Axon through Service Connect"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.axon
  to_port                      = local.ports.axon
  referenced_security_group_id = aws_security_group.axon.id
}

# Orbit calls the MCP targets operators add (agentctl's tools commands) over HTTPS, from the private subnets through
# the NAT gateway for public addresses. Only to the networks listed in mcp_upstream_cidr_blocks (none by default:
# the built-in axon target needs nothing here): a target outside them times out, and a stolen Orbit task cannot
# reach anything else on the internet. 0.0.0.0/0 is allowed when written out, for upstreams behind changing
# addresses (a CDN), at that cost.
resource "aws_vpc_security_group_egress_rule" "orbit_to_mcp_upstreams" {
  for_each = toset(var.mcp_upstream_cidr_blocks)

  security_group_id = aws_security_group.orbit.id
  description       = "HTTPS to MCP upstream servers in ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

# Axon -----------------------------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "axon_from_orbit" {
  security_group_id            = aws_security_group.axon.id
  description                  = "Signed calls from Orbit only"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.axon
  to_port                      = local.ports.axon
  referenced_security_group_id = aws_security_group.orbit.id
}

# AWS APIs, for both services (ECR pulls, logs, secrets, KMS, STS, Lambda, Bedrock, DynamoDB) -----------------

resource "aws_vpc_security_group_egress_rule" "to_endpoints" {
  for_each = {
    orbit = aws_security_group.orbit.id
    axon  = aws_security_group.axon.id
  }

  security_group_id            = each.value
  description                  = "HTTPS to the interface VPC endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.vpc_endpoints_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "to_s3" {
  for_each = {
    orbit = aws_security_group.orbit.id
    axon  = aws_security_group.axon.id
  }

  security_group_id = each.value
  description       = "HTTPS to S3 through the gateway endpoint (ECR image layers)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = var.s3_prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "to_dynamodb" {
  for_each = {
    orbit = aws_security_group.orbit.id
    axon  = aws_security_group.axon.id
  }

  security_group_id = each.value
  description       = "HTTPS to DynamoDB through the gateway endpoint (replay cache)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = var.dynamodb_prefix_list_id
}
