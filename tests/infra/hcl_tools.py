"""Parse the Terraform under infra/ with python-hcl2 and answer the questions the structural tests ask.

Every helper takes parsed documents (or HCL text), so each can be tried on a small synthetic snippet as well as on
the real configuration. Expressions come back as "${...}" strings; plain strings without their quotes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
ENVS = INFRA / "envs"

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
_EXPRESSION = re.compile(r"^\$\{(.*)\}$", re.DOTALL)


def parse_text(text: str) -> dict[str, Any]:
    return hcl2.loads(text, serialization_options=_OPTIONS)


@functools.cache
def parse_file(path: Path) -> dict[str, Any]:
    return parse_text(path.read_text(encoding="utf-8"))


def tf_files(root: Path = INFRA) -> list[Path]:
    return sorted(path for path in root.rglob("*.tf") if ".terraform" not in path.parts)


def module_dirs() -> list[Path]:
    return sorted(path for path in MODULES.iterdir() if path.is_dir())


SHARED_ENV = ENVS / "_shared"  # files every environment links to, not an environment


def env_dirs() -> list[Path]:
    return sorted(path for path in ENVS.iterdir() if path.is_dir() and path != SHARED_ENV)


def parse_dir(directory: Path) -> list[dict[str, Any]]:
    return [parse_file(path) for path in sorted(directory.glob("*.tf"))]


def expression(value: Any) -> str | None:
    """The inside of a "${...}" expression, or None for a literal."""
    if isinstance(value, str):
        match = _EXPRESSION.match(value)
        if match:
            return match.group(1).strip()
    return None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Block:
    """A resource or data block: kind ("resource"/"data"), type, name, body, and the file it is in."""

    kind: str
    type: str
    name: str
    body: dict[str, Any]
    path: Path | None = None

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{prefix}{self.type}.{self.name}"

    @property
    def ref(self) -> str:
        """How other blocks refer to this one (without the attribute)."""
        return self.address


def blocks(docs: Iterable[dict[str, Any]], kind: str = "resource", type_: str | None = None) -> list[Block]:
    found = []
    for doc in docs:
        for entry in doc.get(kind, []):
            for block_type, named in entry.items():
                if type_ is not None and block_type != type_:
                    continue
                for name, body in named.items():
                    found.append(Block(kind, block_type, name, body))
    return found


def all_blocks(kind: str = "resource", type_: str | None = None, root: Path = INFRA) -> list[Block]:
    found = []
    for path in tf_files(root):
        for block in blocks([parse_file(path)], kind, type_):
            found.append(Block(block.kind, block.type, block.name, block.body, path))
    return found


def locals_of(docs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for doc in docs:
        for entry in doc.get("locals", []):
            merged.update(entry)
    return merged


def variables_of(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for entry in doc.get("variable", []):
            merged.update(entry)
    return merged


def outputs_of(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for entry in doc.get("output", []):
            merged.update(entry)
    return merged


def nested(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Nested blocks `name` of a body, static ones and the content of `dynamic "name"` blocks."""
    found = [item for item in as_list(body.get(name)) if isinstance(item, dict)]
    for dynamic in as_list(body.get("dynamic")):
        for dynamic_name, spec in dynamic.items():
            if dynamic_name == name:
                found.extend(as_list(spec.get("content")))
    return found


# Routes -------------------------------------------------------------------------------------------------------


def route_table_reference(block: Block) -> str:
    """What an aws_route's route_table_id points at, looking through `for_each` when it uses each.value."""
    target = str(block.body.get("route_table_id", ""))
    if "each." in target:
        target += f" for_each={block.body.get('for_each')}"
    return target


def routes_into(resources: Iterable[Block], table: str) -> list[Block]:
    """aws_route blocks that add a route to the route table resource `table` (e.g. "aws_route_table.axon")."""
    pattern = re.compile(rf"\b{re.escape(table)}\b")
    return [block for block in resources if block.type == "aws_route" and pattern.search(route_table_reference(block))]


def internet_routes_of_table(resources: Iterable[Block], table: str) -> list[str]:
    """Every route of `table` that leads to the internet: a default route, or any IGW/NAT/egress-only target."""
    resources = list(resources)
    problems = []
    name = table.split(".", 1)[1]
    table_blocks = [b for b in resources if b.type == "aws_route_table" and b.name == name]
    inline = [route for block in table_blocks for route in nested(block.body, "route")]
    for route in inline + [block.body for block in routes_into(resources, table)]:
        destination = str(route.get("destination_cidr_block", route.get("cidr_block", "")))
        destination_v6 = str(route.get("destination_ipv6_cidr_block", route.get("ipv6_cidr_block", "")))
        target_keys = ("gateway_id", "nat_gateway_id", "egress_only_gateway_id")
        targets = {key: route[key] for key in target_keys if key in route}
        if destination == "0.0.0.0/0" or destination_v6 == "::/0" or targets:
            problems.append(f"{table}: route to {destination or destination_v6 or '?'} via {targets or 'unknown'}")
    return problems


# Security groups ----------------------------------------------------------------------------------------------


def ingress_sources(resources: Iterable[Block], group: str) -> list[str]:
    """Sources allowed into security group resource `group` (e.g. "aws_security_group.axon")."""
    resources = list(resources)
    name = group.split(".", 1)[1]
    sources = []
    for block in resources:
        if block.type == "aws_security_group" and block.name == name:
            for rule in nested(block.body, "ingress"):
                sources.append(f"inline ingress {rule}")
        if block.type in {"aws_vpc_security_group_ingress_rule", "aws_security_group_rule"}:
            if f"{group}.id" not in str(block.body.get("security_group_id", "")):
                continue
            if block.type == "aws_security_group_rule" and block.body.get("type") != "ingress":
                continue
            for key in (
                "referenced_security_group_id",
                "source_security_group_id",
                "cidr_ipv4",
                "cidr_ipv6",
                "cidr_blocks",
                "prefix_list_id",
                "self",
            ):
                if key in block.body:
                    sources.append(f"{key}={block.body[key]}")
    return sources


def egress_destinations(resources: Iterable[Block], group: str) -> list[str]:
    resources = list(resources)
    name = group.split(".", 1)[1]
    destinations = []
    for block in resources:
        if block.type == "aws_security_group" and block.name == name:
            for rule in nested(block.body, "egress"):
                destinations.append(f"inline egress {rule}")
        if block.type == "aws_vpc_security_group_egress_rule":
            groups = block.body.get("for_each") if "each.value" in str(block.body.get("security_group_id")) else None
            targets = str(groups) if groups is not None else str(block.body.get("security_group_id", ""))
            if f"{group}.id" not in targets:
                continue
            for key in ("referenced_security_group_id", "cidr_ipv4", "cidr_ipv6", "prefix_list_id"):
                if key in block.body:
                    destinations.append(f"{key}={block.body[key]}")
    return destinations


# IAM ----------------------------------------------------------------------------------------------------------

_SERVICE_WILDCARD = re.compile(r"^[A-Za-z0-9-]+:\*$")


def _resolve_list(value: Any, local_values: dict[str, Any]) -> list[Any]:
    inner = expression(value)
    if inner is not None:
        match = re.fullmatch(r"local\.([A-Za-z0-9_]+)", inner)
        if match and match.group(1) in local_values:
            return as_list(local_values[match.group(1)])
        return [value]
    return as_list(value)


def wildcard_statements(policy_documents: Iterable[Block], local_values: dict[str, Any] | None = None) -> list[str]:
    """Allow statements granting every action ("*") or every action of a service ("svc:*") on every resource."""
    local_values = local_values or {}
    problems = []
    for block in policy_documents:
        for statement in nested(block.body, "statement"):
            if str(statement.get("effect", "Allow")) == "Deny":
                continue
            actions = [str(action) for action in _resolve_list(statement.get("actions"), local_values)]
            resources = [str(resource) for resource in _resolve_list(statement.get("resources"), local_values)]
            if "not_actions" in statement or "not_resources" in statement:
                problems.append(f"{block.address}: NotAction/NotResource in an Allow statement")
                continue
            broad = [action for action in actions if action == "*" or _SERVICE_WILDCARD.match(action)]
            if broad and (not resources or "*" in resources):
                problems.append(f"{block.address}: {broad} on {resources or ['(no resources)']}")
    return problems


def wildcard_principals(policy_documents: Iterable[Block]) -> list[str]:
    """Allow statements whose principal is "*" without any condition."""
    problems = []
    for block in policy_documents:
        for statement in nested(block.body, "statement"):
            if str(statement.get("effect", "Allow")) == "Deny" or nested(statement, "condition"):
                continue
            for principal in nested(statement, "principals"):
                if "*" in [str(identifier) for identifier in as_list(principal.get("identifiers"))]:
                    problems.append(f"{block.address}: principal * without a condition")
    return problems


# Python versions ----------------------------------------------------------------------------------------------


def python_minor(runtime: str) -> int | None:
    match = re.fullmatch(r"python3\.(\d+)", runtime)
    return int(match.group(1)) if match else None


def iter_variable_problems(variables: dict[str, dict[str, Any]], where: str) -> Iterator[str]:
    for name, body in variables.items():
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            yield f"{where}: variable {name} has no description"
        if "type" not in body:
            yield f"{where}: variable {name} has no type"
        elif "any" in re.findall(r"\b[a-z]+\b", str(body["type"])):
            yield f"{where}: variable {name} uses the imprecise type any"


# Raw text ------------------------------------------------------------------------------------------------------


def block_text(text: str, header: str) -> str:
    """The text of the block that starts with `header` (e.g. 'variable "region"'), braces matched outside strings."""
    start = text.index(header)
    depth, index, in_string = 0, text.index("{", start), False
    while True:
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
        index += 1


# Expressions ---------------------------------------------------------------------------------------------------

_FOR_MAP = re.compile(r"\{for (\w+), (\w+) in ([\w.\[\]\"]+) : \1 => (.*)\}", re.DOTALL)


def for_map_body(value: Any, wrapper: str | None = None) -> tuple[str, dict[str, Any]]:
    """`{for k, v in COLLECTION : k => BODY}` (BODY an object, optionally inside `wrapper(...)`, e.g. yamlencode):
    the collection expression and BODY parsed, its references left as "${...}" strings."""
    match = _FOR_MAP.fullmatch(expression(value) or "")
    assert match, f"not a for expression building a map: {value}"
    body = match.group(4).strip()
    if wrapper:
        assert body.startswith(f"{wrapper}("), body
        assert body.endswith(")"), body
        body = body[len(wrapper) + 1 : -1]
    return match.group(3), parse_text(f"value = {body}")["value"]


def resolve_locals(value: str, local_values: dict[str, Any]) -> str:
    """Replace the `${local.a.b}` references whose values are literals."""

    def replace(match: re.Match[str]) -> str:
        current: Any = local_values
        for part in match.group(1).split("."):
            current = current[part]
        assert isinstance(current, (str, int, float)), match.group(0)
        return str(current)

    return re.sub(r"\$\{local\.([\w.]+)\}", replace, value)
