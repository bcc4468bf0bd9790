"""Clients -> ALB -> Orbit -> Axon: each hop admits the previous one only."""

from __future__ import annotations

from .hcl_tools import MODULES, all_blocks, blocks, egress_destinations, ingress_sources, parse_dir

ECS = blocks(parse_dir(MODULES / "ecs"))


def test_axon_accepts_traffic_from_orbit_only():
    assert ingress_sources(ECS, "aws_security_group.axon") == [
        "referenced_security_group_id=${aws_security_group.orbit.id}",
    ]


def test_orbit_accepts_traffic_from_the_alb_only():
    assert ingress_sources(ECS, "aws_security_group.orbit") == [
        "referenced_security_group_id=${aws_security_group.alb.id}",
    ]


def test_alb_forwards_to_orbit_only():
    assert egress_destinations(ECS, "aws_security_group.alb") == [
        "referenced_security_group_id=${aws_security_group.orbit.id}",
    ]


def test_alb_is_reachable_from_listed_networks_never_from_anywhere():
    sources = ingress_sources(ECS, "aws_security_group.alb")
    assert sources
    assert all(source.startswith("cidr_ipv4=") for source in sources)
    assert not [source for source in sources if "0.0.0.0/0" in source]


def test_orbit_and_axon_egress_is_limited_to_the_next_hop_and_vpc_endpoints():
    allowed_orbit = {
        "referenced_security_group_id=${aws_security_group.axon.id}",
        "referenced_security_group_id=${var.vpc_endpoints_security_group_id}",
        "prefix_list_id=${var.s3_prefix_list_id}",
        "prefix_list_id=${var.dynamodb_prefix_list_id}",
    }
    # Orbit also reaches the MCP upstream networks an operator lists (none by default: test_mcp_gateway.py).
    assert set(egress_destinations(ECS, "aws_security_group.orbit")) == allowed_orbit | {"cidr_ipv4=${each.value}"}
    assert set(egress_destinations(ECS, "aws_security_group.axon")) == allowed_orbit - {
        "referenced_security_group_id=${aws_security_group.axon.id}",
    }


def test_load_balancer_is_internal_and_https_only():
    lb = next(block for block in ECS if block.type == "aws_lb")
    assert lb.body["internal"] is True
    assert lb.body["drop_invalid_header_fields"] is True
    listeners = {block.name: block.body for block in ECS if block.type == "aws_lb_listener"}
    assert listeners["https"]["protocol"] == "HTTPS"
    assert listeners["https"]["certificate_arn"] == "${var.certificate_arn}"
    http = listeners["http_redirect"]
    assert http["protocol"] == "HTTP"
    assert http["default_action"][0]["type"] == "redirect"
    assert http["default_action"][0]["redirect"][0]["protocol"] == "HTTPS"
    target_group = next(block for block in ECS if block.type == "aws_lb_target_group")
    assert target_group.body["health_check"][0]["path"] == "/health"


def test_no_legacy_security_group_rules_anywhere():
    # One rule per resource (aws_vpc_security_group_*_rule) keeps every hop visible to the tests above.
    assert [block.address for block in all_blocks("resource", "aws_security_group_rule")] == []
    for block in all_blocks("resource", "aws_security_group"):
        assert "ingress" not in block.body, block.address
        assert "egress" not in block.body, block.address
