"""MCP targets and their tools: the store, and how a tool's JSON Schema becomes Cedar types and values.

One owner for the tools table (`${PROJECT_NAME}-tools`): agentctl writes it (`agentctl tools add|sync|remove`),
Orbit reads it. Items:
- `target#<name>`: an upstream MCP server (URL, authentication, timeout, whether raw arguments are audited) and the
  generation of its tool list now in force;
- `tool#<name>#<generation>#<tool>`: one tool of one synced generation (description, input schema, annotations).
A sync writes the new generation's tool items, then moves the target's generation (conditional on the one it
read), then deletes the old items: readers see a whole tool list or the one before, never a mix.

A tool's input schema gives its arguments' Cedar types, so that policies can reason about arguments
(`when { context.input.amount > 100 }`) and be validated against them at push time: string -> String, integer ->
Long, number -> decimal, boolean -> Bool, array -> Set, object -> Record (required properties required, the others
optional). A property whose schema has no such type (anyOf, null, ...) is left out: no policy can name it. A value
Cedar cannot hold exactly (an integer beyond 64 bits, a number with more than 4 decimal places) is refused rather
than rounded: a rounded amount could pass a limit the real one does not.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import ClientError

TOOL_SEPARATOR = "___"  # clients see `<target>___<tool>`, as AgentCore Gateway names them
TARGET_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
AUTH_MODES = ("none", "sigv4", "bearer")
TOOLS_GROUP = "mcp_tools"
BUILTIN_TARGET = "axon"

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_DECIMAL_LIMIT = Decimal("922337203685477.5807")
_MAX_SCHEMA_DEPTH = 8
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ToolStoreError(Exception):
    pass


class ArgumentError(ValueError):
    """An argument value that policies cannot reason about exactly; `path` names it (`input.amount`)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def tool_action(target: str, tool: str) -> str:
    return f"{target}{TOOL_SEPARATOR}{tool}"


def split_tool_action(name: str) -> tuple[str, str] | None:
    target, sep, tool = name.partition(TOOL_SEPARATOR)
    if not sep or not TARGET_NAME_RE.match(target) or not TOOL_NAME_RE.match(tool):
        return None
    return target, tool


def target_group(target: str) -> str:
    return f"target:{target}"


@dataclass(frozen=True)
class Tool:
    target: str
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    title: str | None = None

    @property
    def action(self) -> str:
        return tool_action(self.target, self.name)

    def listing(self) -> dict[str, Any]:
        """The tool as Orbit lists it to clients: the upstream's definition under its governed name."""
        listed: dict[str, Any] = {
            "name": self.action,
            "description": self.description,
            "inputSchema": self.input_schema,
        }
        if self.title:
            listed["title"] = self.title
        if self.annotations:
            listed["annotations"] = self.annotations
        if self.output_schema:
            listed["outputSchema"] = self.output_schema
        return listed


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    auth: str = "none"  # none | sigv4 (signed with Orbit's key) | bearer (a token held in Secrets Manager)
    bearer_secret: str | None = None
    sigv4_service: str = "execute-api"
    timeout_ms: int = 30_000
    record_arguments: bool = False  # raw arguments in the audit (off: only their SHA-256)
    generation: str = ""
    tools: tuple[Tool, ...] = ()
    synced_at: str | None = None
    builtin: bool = False

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)


#: Axon's reasoning, as the tool of the built-in target `axon` (served by Axon's own /mcp).
AXON_REASON_TOOL = Tool(
    target=BUILTIN_TARGET,
    name="reason",
    title="Axon reasoning",
    description="Ask Axon, the runtime's reasoning service, to reason about a prompt; answers text.",
    input_schema={
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 16384, "description": "What to reason about."},
            "intent": {
                "type": "string",
                "pattern": "^[A-Za-z][A-Za-z0-9_.:-]{0,63}$",
                "description": "What kind of reasoning (default call_reasoning).",
            },
        },
        "required": ["prompt"],
        "additionalProperties": False,
    },
    annotations={"readOnlyHint": True, "openWorldHint": False},
)


def builtin_axon_target(axon_url: str) -> Target:
    """The built-in target: Axon's MCP endpoint, called with Orbit's key (service `axon`) and a receipt."""
    return Target(
        name=BUILTIN_TARGET,
        url=f"{axon_url.rstrip('/')}/mcp",
        auth="sigv4",
        sigv4_service="axon",
        generation="builtin",
        tools=(AXON_REASON_TOOL,),
        builtin=True,
    )


def check_target_name(name: str) -> None:
    if not TARGET_NAME_RE.match(name):
        raise ToolStoreError(f"target name {name!r} must match {TARGET_NAME_RE.pattern}")
    if name == BUILTIN_TARGET:
        raise ToolStoreError(f"{BUILTIN_TARGET!r} is the built-in target (Axon); choose another name")


# --- the store --------------------------------------------------------------------------------------------


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ToolStore:
    """Repository over the tools table. It is handed its boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table = table_name

    def put_target(self, target: Target, *, replace: bool = False) -> None:
        item = {
            "pk": {"S": f"target#{target.name}"},
            "name": {"S": target.name},
            "url": {"S": target.url},
            "auth": {"S": target.auth},
            "sigv4_service": {"S": target.sigv4_service},
            "timeout_ms": {"N": str(target.timeout_ms)},
            "record_arguments": {"BOOL": target.record_arguments},
            "generation": {"S": target.generation},
            "updated_at": {"S": _now()},
        }
        if target.bearer_secret:
            item["bearer_secret"] = {"S": target.bearer_secret}
        if target.synced_at:  # a target replaced with its tools kept (its generation) keeps when they were synced
            item["synced_at"] = {"S": target.synced_at}
        condition = {} if replace else {"ConditionExpression": "attribute_not_exists(pk)"}
        try:
            self.dynamodb.put_item(TableName=self.table, Item=item, **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ToolStoreError(f"a target named {target.name!r} already exists") from exc
            raise

    def publish_tools(self, target: Target, tools: list[Tool]) -> Target:
        """Make `tools` the target's tool list, all at once (see the module docstring)."""
        generation = uuid.uuid4().hex[:12]
        for tool in tools:
            self.dynamodb.put_item(TableName=self.table, Item=_tool_item(tool, generation))
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"target#{target.name}"}},
                UpdateExpression="SET generation = :new, synced_at = :at, tool_count = :count",
                ConditionExpression="generation = :old",
                ExpressionAttributeValues={
                    ":new": {"S": generation},
                    ":old": {"S": target.generation},
                    ":at": {"S": _now()},
                    ":count": {"N": str(len(tools))},
                },
            )
        except ClientError as exc:
            self._delete_generation(target.name, generation)
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ToolStoreError(
                    f"target {target.name!r} changed (removed, or synced by someone else) during this sync; retry"
                ) from exc
            raise
        if target.generation:
            self._delete_generation(target.name, target.generation)
        return Target(**{**target.__dict__, "generation": generation, "tools": tuple(tools), "synced_at": _now()})

    def remove_target(self, name: str) -> None:
        target = self.target(name)
        if target is None:
            raise ToolStoreError(f"no target named {name!r}")
        self.dynamodb.delete_item(TableName=self.table, Key={"pk": {"S": f"target#{name}"}})
        self._delete_generation(name, target.generation)

    def _delete_generation(self, target: str, generation: str) -> None:
        if not generation:
            return
        prefix = f"tool#{target}#{generation}#"
        for item in self._scan():
            if item["pk"]["S"].startswith(prefix):
                self.dynamodb.delete_item(TableName=self.table, Key={"pk": item["pk"]})

    def _scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.dynamodb.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def targets(self) -> list[Target]:
        """Every stored target with the tools of its generation in force, sorted by name."""
        items = self._scan()
        tools_by: dict[tuple[str, str], list[Tool]] = {}
        for item in items:
            key = item["pk"]["S"]
            if key.startswith("tool#"):
                _, target, generation, _name = key.split("#", 3)
                tools_by.setdefault((target, generation), []).append(_tool_from_item(item))
        found = []
        for item in items:
            if item["pk"]["S"].startswith("target#"):
                target = _target_from_item(item)
                tools = sorted(tools_by.get((target.name, target.generation), []), key=lambda t: t.name)
                found.append(Target(**{**target.__dict__, "tools": tuple(tools)}))
        return sorted(found, key=lambda t: t.name)

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets() if t.name == name), None)


def _tool_item(tool: Tool, generation: str) -> dict[str, Any]:
    item = {
        "pk": {"S": f"tool#{tool.target}#{generation}#{tool.name}"},
        "target": {"S": tool.target},
        "name": {"S": tool.name},
        "description": {"S": tool.description},
        "input_schema": {"S": json.dumps(tool.input_schema, sort_keys=True)},
        "annotations": {"S": json.dumps(tool.annotations, sort_keys=True)},
    }
    if tool.output_schema is not None:
        item["output_schema"] = {"S": json.dumps(tool.output_schema, sort_keys=True)}
    if tool.title:
        item["title"] = {"S": tool.title}
    return item


def _tool_from_item(item: dict[str, Any]) -> Tool:
    return Tool(
        target=item["target"]["S"],
        name=item["name"]["S"],
        description=item.get("description", {}).get("S", ""),
        input_schema=json.loads(item["input_schema"]["S"]),
        annotations=json.loads(item.get("annotations", {}).get("S", "{}")),
        output_schema=json.loads(item["output_schema"]["S"]) if "output_schema" in item else None,
        title=item.get("title", {}).get("S"),
    )


def _target_from_item(item: dict[str, Any]) -> Target:
    return Target(
        name=item["name"]["S"],
        url=item["url"]["S"],
        auth=item["auth"]["S"],
        bearer_secret=item.get("bearer_secret", {}).get("S"),
        sigv4_service=item.get("sigv4_service", {}).get("S", "execute-api"),
        timeout_ms=int(item.get("timeout_ms", {}).get("N", "30000")),
        record_arguments=bool(item.get("record_arguments", {}).get("BOOL", False)),
        generation=item.get("generation", {}).get("S", ""),
        synced_at=item.get("synced_at", {}).get("S"),
    )


# --- JSON Schema -> Cedar -----------------------------------------------------------------------------------


def _resolve(schema: Any, root: dict[str, Any], depth: int) -> dict[str, Any] | None:
    if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        for prefix in ("#/$defs/", "#/definitions/"):
            if ref.startswith(prefix):
                return _resolve(root.get(prefix[2:-1], {}).get(ref[len(prefix) :]), root, depth + 1)
        return None
    return schema


def _single_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind is None and isinstance(schema.get("enum"), list) and all(isinstance(v, str) for v in schema["enum"]):
        kind = "string"
    return kind if isinstance(kind, str) else None


def cedar_type(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> str | None:
    """The Cedar schema type of a JSON Schema, or None when Cedar cannot hold it."""
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    resolved = _resolve(schema, root, depth)
    if resolved is None:
        return None
    kind = _single_type(resolved)
    if kind in ("string", "integer", "number", "boolean"):
        return {"string": "String", "integer": "Long", "number": "decimal", "boolean": "Bool"}[kind]
    if kind == "array":
        item = cedar_type(resolved.get("items"), root, depth + 1)
        return f"Set<{item}>" if item else None
    if kind == "object":
        return _record_type(resolved, root, depth)
    return None


def _record_type(schema: dict[str, Any], root: dict[str, Any], depth: int) -> str:
    required = set(schema.get("required", []))
    attributes = []
    for name, prop in sorted((schema.get("properties") or {}).items()):
        kind = cedar_type(prop, root, depth + 1)
        if kind is None:
            continue
        key = name if _IDENT_RE.match(name) else json.dumps(name)
        attributes.append(f"{key}{'' if name in required else '?'}: {kind}")
    return "{" + ", ".join(attributes) + "}"


def cedar_value(
    value: Any, schema: Any, path: str = "input", root: dict[str, Any] | None = None, depth: int = 0
) -> Any:
    """`value` (valid against `schema`) as a Cedar context value; ArgumentError when Cedar cannot hold it exactly.
    Returns `_OMIT` for a value whose schema has no Cedar type (policies cannot name it)."""
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    resolved = _resolve(schema, root, depth)
    kind = _single_type(resolved) if resolved is not None else None
    if kind is None or value is None:
        return _OMIT
    if kind == "string":
        return value if isinstance(value, str) else _OMIT
    if kind == "boolean":
        return value if isinstance(value, bool) else _OMIT
    if kind == "integer":
        number = _exact_integer(value, path)
        if not _LONG_MIN <= number <= _LONG_MAX:
            raise ArgumentError(path, "is beyond the 64-bit integers policies reason about")
        return number
    if kind == "number":
        return _decimal(value, path)
    if kind == "array":
        if not isinstance(value, list):
            return _OMIT
        items = [cedar_value(v, resolved.get("items"), f"{path}[{i}]", root, depth + 1) for i, v in enumerate(value)]
        return [item for item in items if item is not _OMIT]
    if kind == "object":
        if not isinstance(value, dict):
            return _OMIT
        properties = resolved.get("properties") or {}
        record = {}
        for name, prop in properties.items():
            if name in value:
                converted = cedar_value(value[name], prop, f"{path}.{name}", root, depth + 1)
                if converted is not _OMIT:
                    record[name] = converted
        return record
    return _OMIT


class _Omitted:
    def __repr__(self) -> str:
        return "<omitted>"


_OMIT: Any = _Omitted()


def _exact_integer(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise ArgumentError(path, "is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ArgumentError(path, "is not an integer")


def _decimal(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentError(path, "is not a number")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ArgumentError(path, "is not a finite number") from None
    if not number.is_finite() or abs(number) > _DECIMAL_LIMIT:
        raise ArgumentError(path, "is beyond the decimals policies reason about")
    if number != number.quantize(Decimal("0.0001")):
        raise ArgumentError(path, "has more than 4 decimal places, which policies cannot compare exactly")
    return {"__extn": {"fn": "decimal", "arg": f"{number.quantize(Decimal('0.0001')):f}"}}


def cedar_input(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    """The `context.input` record of a call of `tool` (its arguments already valid against its input schema)."""
    converted = cedar_value(arguments, tool.input_schema)
    return converted if isinstance(converted, dict) else {}


_TOOL_CONTEXT = (
    "user_id: String, request_id: String, source_ip: ipaddr, time: Long, hour_utc: Long, day_of_week: String, "
    "environment: String"
)


def cedar_schema(base: str, targets: list[Target]) -> str:
    """The Cedar schema policies are validated against: the base schema (governance/policies) plus, for every
    target (the built-in `axon` always among them), its group action and one action per tool whose context types
    the tool's arguments."""
    lines = [base.rstrip(), "", "// Generated from the synced MCP targets (agentctl tools sync): do not edit."]
    if not any(t.name == BUILTIN_TARGET for t in targets):
        targets = [*targets, builtin_axon_target("http://axon")]
    for target in sorted(targets, key=lambda t: t.name):
        group = target_group(target.name)
        lines.append(f'action "{group}" in ["{TOOLS_GROUP}"];')
        for tool in sorted(target.tools, key=lambda t: t.name):
            record = cedar_type({**tool.input_schema, "type": "object"}, tool.input_schema) or "{}"
            lines.append(
                f'action "{tool.action}" in ["{TOOLS_GROUP}", "{group}"]\n'
                f"  appliesTo {{ principal: [Client], resource: [Target], "
                f"context: {{ input: {record}, {_TOOL_CONTEXT} }} }};"
            )
    return "\n".join(lines) + "\n"
