"""The Axon runtime subnets have no way to the internet; AWS APIs are reached through VPC endpoints."""

from __future__ import annotations

from .hcl_tools import (
    MODULES,
    blocks,
    internet_routes_of_table,
    locals_of,
    nested,
    parse_dir,
    route_table_reference,
)

NETWORK = parse_dir(MODULES / "network")
RESOURCES = blocks(NETWORK)


def _resource(type_: str, name: str):
    return next(block for block in RESOURCES if block.type == type_ and block.name == name)


def test_axon_route_table_has_no_route_to_the_internet():
    assert _resource("aws_route_table", "axon")
    assert internet_routes_of_table(RESOURCES, "aws_route_table.axon") == []


def test_axon_subnets_are_associated_with_the_isolated_route_table_only():
    associations = [
        block
        for block in RESOURCES
        if block.type == "aws_route_table_association" and "aws_subnet.axon" in str(block.body.get("for_each"))
    ]
    assert len(associations) == 1
    assert associations[0].body["route_table_id"] == "${aws_route_table.axon.id}"
    other_associations = [
        block for block in RESOURCES if block.type == "aws_route_table_association" and block not in associations
    ]
    for block in other_associations:
        assert "aws_subnet.axon" not in str(block.body)


def test_nat_gateways_serve_the_private_subnets_only():
    nat_routes = [block for block in RESOURCES if block.type == "aws_route" and "nat_gateway_id" in block.body]
    assert nat_routes, "the private subnets route through NAT"
    assert all("aws_route_table.private" in route_table_reference(block) for block in nat_routes)
    igw_routes = [block for block in RESOURCES if block.type == "aws_route" and "gateway_id" in block.body]
    assert igw_routes
    assert all(route_table_reference(block) == "${aws_route_table.public.id}" for block in igw_routes)
    assert all(
        nat.body["subnet_id"].startswith("${aws_subnet.public[") for nat in RESOURCES if nat.type == "aws_nat_gateway"
    )


def test_no_subnet_assigns_public_ips():
    for block in RESOURCES:
        if block.type == "aws_subnet":
            assert block.body["map_public_ip_on_launch"] is False, block.address


def test_required_interface_endpoints_with_private_dns():
    endpoints = str(locals_of(NETWORK)["interface_endpoints"])
    required = {"secretsmanager", "logs", "ecr.api", "ecr.dkr", "kms", "sts", "bedrock-runtime", "xray"}
    assert [name for name in sorted(required) if f'"{name}"' not in endpoints] == []
    interface = _resource("aws_vpc_endpoint", "interface")
    assert interface.body["vpc_endpoint_type"] == "Interface"
    assert interface.body["private_dns_enabled"] is True


def test_gateway_endpoints_serve_the_axon_route_table():
    gateway_tables = str(locals_of(NETWORK)["gateway_route_table_ids"])
    assert "aws_route_table.axon.id" in gateway_tables
    for name, service in (("s3", "s3"), ("dynamodb", "dynamodb")):
        endpoint = _resource("aws_vpc_endpoint", name)
        assert endpoint.body["vpc_endpoint_type"] == "Gateway"
        assert str(endpoint.body["service_name"]).endswith(f".{service}")
        assert endpoint.body["route_table_ids"] == "${local.gateway_route_table_ids}"
        assert "policy" in endpoint.body, f"{name} endpoint is limited by a policy"


def test_every_subnet_tier_has_a_network_acl_and_flow_logs_are_on():
    acls = {block.name: block for block in RESOURCES if block.type == "aws_network_acl"}
    assert set(acls) == {"public", "private", "axon"}
    for tier, acl in acls.items():
        assert f"aws_subnet.{tier}" in str(acl.body["subnet_ids"])
    flow_log = _resource("aws_flow_log", "this")
    assert flow_log.body["traffic_type"] == "ALL"
    default_group = _resource("aws_default_security_group", "this")
    assert not nested(default_group.body, "ingress")
    assert not nested(default_group.body, "egress")
