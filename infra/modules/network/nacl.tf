# Network ACLs: a stateless, subnet-level second layer under the security groups. TCP only; every rule that lets a
# request in has its return path in the ephemeral range. DNS to the Route 53 Resolver is never filtered by ACLs.
#
# The Axon ACL has to allow HTTPS to 0.0.0.0/0 and the replies back, because the S3 and DynamoDB gateway endpoints
# answer from AWS public address ranges (an ACL cannot name a prefix list). What Axon can actually reach is decided
# by its route table, which has no internet route, and by its security group (endpoints and prefix lists only).

locals {
  ephemeral_from = 1024
  ephemeral_to   = 65535

  client_cidrs  = distinct(concat([var.vpc_cidr], var.client_cidr_blocks))
  private_cidrs = values(local.private_subnets)

  nacl_rules = merge(
    {
      "public-in-100"  = { acl = "public", egress = false, number = 100, from = 443, to = 443, cidr = var.vpc_cidr }
      "public-in-110"  = { acl = "public", egress = false, number = 110, from = local.ephemeral_from, to = local.ephemeral_to, cidr = "0.0.0.0/0" }
      "public-out-100" = { acl = "public", egress = true, number = 100, from = 443, to = 443, cidr = "0.0.0.0/0" }
      "public-out-110" = { acl = "public", egress = true, number = 110, from = local.ephemeral_from, to = local.ephemeral_to, cidr = var.vpc_cidr }

      "private-in-100"  = { acl = "private", egress = false, number = 100, from = 8080, to = 8080, cidr = var.vpc_cidr }
      "private-in-110"  = { acl = "private", egress = false, number = 110, from = local.ephemeral_from, to = local.ephemeral_to, cidr = "0.0.0.0/0" }
      "private-out-100" = { acl = "private", egress = true, number = 100, from = 443, to = 443, cidr = "0.0.0.0/0" }
      "private-out-110" = { acl = "private", egress = true, number = 110, from = 8080, to = 8080, cidr = var.vpc_cidr }
      "private-out-120" = { acl = "private", egress = true, number = 120, from = 8081, to = 8081, cidr = var.vpc_cidr }

      "axon-in-200"  = { acl = "axon", egress = false, number = 200, from = local.ephemeral_from, to = local.ephemeral_to, cidr = "0.0.0.0/0" }
      "axon-out-100" = { acl = "axon", egress = true, number = 100, from = 443, to = 443, cidr = "0.0.0.0/0" }
    },
    # Clients of the internal load balancer (HTTPS, and HTTP that only redirects) and the replies to them; HTTPS
    # from the VPC also serves the interface endpoints.
    { for index, cidr in local.client_cidrs : "private-in-${200 + index}" => { acl = "private", egress = false, number = 200 + index, from = 443, to = 443, cidr = cidr } },
    { for index, cidr in local.client_cidrs : "private-in-${300 + index}" => { acl = "private", egress = false, number = 300 + index, from = 80, to = 80, cidr = cidr } },
    { for index, cidr in local.client_cidrs : "private-out-${200 + index}" => { acl = "private", egress = true, number = 200 + index, from = local.ephemeral_from, to = local.ephemeral_to, cidr = cidr } },
    # Axon accepts Orbit's calls (port 8081) from the private subnets only and answers them.
    { for index, cidr in local.private_cidrs : "axon-in-${100 + index}" => { acl = "axon", egress = false, number = 100 + index, from = 8081, to = 8081, cidr = cidr } },
    { for index, cidr in local.private_cidrs : "axon-out-${200 + index}" => { acl = "axon", egress = true, number = 200 + index, from = local.ephemeral_from, to = local.ephemeral_to, cidr = cidr } },
  )

  nacl_ids = {
    public  = aws_network_acl.public.id
    private = aws_network_acl.private.id
    axon    = aws_network_acl.axon.id
  }
}

resource "aws_network_acl" "public" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = [for subnet in aws_subnet.public : subnet.id]

  tags = merge(var.tags, { Name = "${var.project_name}-public" })
}

resource "aws_network_acl" "private" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = [for subnet in aws_subnet.private : subnet.id]

  tags = merge(var.tags, { Name = "${var.project_name}-private" })
}

resource "aws_network_acl" "axon" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = [for subnet in aws_subnet.axon : subnet.id]

  tags = merge(var.tags, { Name = "${var.project_name}-axon-isolated" })
}

resource "aws_network_acl_rule" "this" {
  for_each = local.nacl_rules

  #checkov:skip=CKV_AWS_231:The 0.0.0.0/0 ingress rules are the stateless return path (ports 1024-65535) of outbound HTTPS; no listener exists on 3389 and the security groups admit no such traffic.
  network_acl_id = local.nacl_ids[each.value.acl]
  rule_number    = each.value.number
  egress         = each.value.egress
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = each.value.cidr
  from_port      = each.value.from
  to_port        = each.value.to
}
