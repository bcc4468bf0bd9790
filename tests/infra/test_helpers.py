"""The structural checks can fail: each helper against a small synthetic snippet that breaks its rule."""

from __future__ import annotations

from .hcl_tools import (
    blocks,
    egress_destinations,
    ingress_sources,
    internet_routes_of_table,
    iter_variable_problems,
    parse_text,
    python_minor,
    variables_of,
    wildcard_principals,
    wildcard_statements,
)


def test_internet_route_from_the_isolated_table_is_found():
    docs = [
        parse_text("""
    resource "aws_route_table" "axon" {
      vpc_id = aws_vpc.this.id
    }
    resource "aws_route" "leak" {
      route_table_id         = aws_route_table.axon.id
      destination_cidr_block = "0.0.0.0/0"
      nat_gateway_id         = aws_nat_gateway.this["a"].id
    }
    resource "aws_route" "elsewhere" {
      route_table_id         = aws_route_table.private["a"].id
      destination_cidr_block = "0.0.0.0/0"
      nat_gateway_id         = aws_nat_gateway.this["a"].id
    }
    """)
    ]
    problems = internet_routes_of_table(blocks(docs), "aws_route_table.axon")
    assert len(problems) == 1
    assert "0.0.0.0/0" in problems[0]


def test_route_added_through_for_each_is_found():
    docs = [
        parse_text("""
    resource "aws_route" "sneaky" {
      for_each               = { axon = aws_route_table.axon }
      route_table_id         = each.value.id
      destination_cidr_block = "0.0.0.0/0"
      gateway_id             = aws_internet_gateway.this.id
    }
    """)
    ]
    assert internet_routes_of_table(blocks(docs), "aws_route_table.axon")


def test_inline_ipv6_default_route_is_found():
    docs = [
        parse_text("""
    resource "aws_route_table" "axon" {
      vpc_id = aws_vpc.this.id
      route {
        ipv6_cidr_block        = "::/0"
        egress_only_gateway_id = aws_egress_only_internet_gateway.this.id
      }
    }
    """)
    ]
    assert internet_routes_of_table(blocks(docs), "aws_route_table.axon")


def test_extra_ingress_source_is_found():
    docs = [
        parse_text("""
    resource "aws_security_group" "axon" {
      name = "axon"
    }
    resource "aws_vpc_security_group_ingress_rule" "orbit" {
      security_group_id            = aws_security_group.axon.id
      referenced_security_group_id = aws_security_group.orbit.id
      ip_protocol                  = "tcp"
    }
    resource "aws_vpc_security_group_ingress_rule" "anywhere" {
      security_group_id = aws_security_group.axon.id
      cidr_ipv4         = "0.0.0.0/0"
      ip_protocol       = "tcp"
    }
    """)
    ]
    sources = ingress_sources(blocks(docs), "aws_security_group.axon")
    assert sources == ["referenced_security_group_id=${aws_security_group.orbit.id}", "cidr_ipv4=0.0.0.0/0"]


def test_inline_egress_is_found():
    docs = [
        parse_text("""
    resource "aws_security_group" "alb" {
      egress {
        from_port   = 0
        to_port     = 0
        protocol    = "-1"
        cidr_blocks = ["0.0.0.0/0"]
      }
    }
    """)
    ]
    assert egress_destinations(blocks(docs), "aws_security_group.alb")


def test_wildcard_statements_are_found_and_scoped_ones_are_not():
    docs = [
        parse_text("""
    locals {
      everything = ["*"]
    }
    data "aws_iam_policy_document" "bad" {
      statement {
        actions   = ["s3:*"]
        resources = ["*"]
      }
      dynamic "statement" {
        for_each = [1]
        content {
          actions   = local.everything
          resources = ["*"]
        }
      }
    }
    data "aws_iam_policy_document" "fine" {
      statement {
        actions   = ["dynamodb:*"]
        resources = ["arn:aws:dynamodb:us-east-1:123456789012:table/agent-runtime-*"]
      }
      statement {
        effect    = "Deny"
        actions   = ["*"]
        resources = ["*"]
      }
      statement {
        actions   = ["xray:PutTraceSegments"]
        resources = ["*"]
      }
    }
    """)
    ]
    documents = blocks(docs, "data", "aws_iam_policy_document")
    problems = wildcard_statements(documents, {"everything": ["*"]})
    assert len(problems) == 2
    assert all(problem.startswith("data.aws_iam_policy_document.bad") for problem in problems)


def test_unconditional_wildcard_principal_is_found():
    docs = [
        parse_text("""
    data "aws_iam_policy_document" "open" {
      statement {
        actions   = ["kms:Decrypt"]
        resources = ["*"]
        principals {
          type        = "AWS"
          identifiers = ["*"]
        }
      }
    }
    """)
    ]
    assert wildcard_principals(blocks(docs, "data", "aws_iam_policy_document"))


def test_variables_without_description_or_with_type_any_are_found():
    docs = [
        parse_text("""
    variable "untyped" {
      description = "no type"
    }
    variable "undescribed" {
      type = string
    }
    variable "loose" {
      description = "imprecise"
      type        = map(any)
    }
    variable "good" {
      description = "fine"
      type        = object({ name = optional(string, "x") })
    }
    """)
    ]
    problems = list(iter_variable_problems(variables_of(docs), "snippet"))
    assert len(problems) == 3
    assert not [problem for problem in problems if "good" in problem]


def test_python_minor_version():
    assert python_minor("python3.12") == 12
    assert python_minor("python3.9") == 9
    assert python_minor("nodejs20.x") is None
