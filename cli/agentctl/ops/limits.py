"""Work of `agentctl limits`: the change asked for, checked, and applied to the limits Governance reads.

The limits live in the policies table (governance.store.Limits): global, per principal, per source IP, a limit of
their own for named principals, and for an MCP tool (`<target>___<tool>`) how many calls of it each principal may
make per minute (governance.rate_limits counts them; a call over it is refused with its retry-after).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from agent_runtime.tools import builtin_axon_target, split_tool_action
from agentctl.ops.errors import Refused
from agentctl.ops.platform import Platform
from governance.store import Limits

MAX_PER_MINUTE = 10_000_000
_TOOL_LIMIT_RE = re.compile(r"^(?P<name>[^=]+)=(?P<value>none|[1-9][0-9]*)$")


@dataclass(frozen=True)
class LimitsChange:
    global_limit: int | None = None
    per_principal: int | None = None
    per_ip: int | None = None
    principal: str | None = None
    reset_principal: bool = False
    #: tool -> its limit per principal and minute, or None to drop the tool's limit
    tools: dict[str, int | None] = field(default_factory=dict)

    def apply(self, current: Limits) -> Limits:
        tools = dict(current.tools)
        for name, value in self.tools.items():
            if value is None:
                tools.pop(name, None)
            else:
                tools[name] = value
        if self.principal:
            principals = dict(current.principals)
            if self.reset_principal:
                principals.pop(self.principal, None)
            else:
                principals[self.principal] = self.per_principal or current.per_principal
            return dataclasses.replace(current, principals=principals, tools=tools)
        return dataclasses.replace(
            current,
            global_limit=self.global_limit or current.global_limit,
            per_principal=self.per_principal or current.per_principal,
            per_ip=self.per_ip or current.per_ip,
            tools=tools,
        )


def tool_limits(values: tuple[str, ...]) -> dict[str, int | None]:
    """`--tool NAME=N` (N calls per principal and minute) or `--tool NAME=none` (no limit of its own)."""
    limits: dict[str, int | None] = {}
    for value in values:
        match = _TOOL_LIMIT_RE.match(value.strip())
        if not match or (match["value"] != "none" and int(match["value"]) > MAX_PER_MINUTE):
            raise Refused(f"--tool {value!r}: expected NAME=N (1 to {MAX_PER_MINUTE}) or NAME=none")
        name = match["name"]
        if split_tool_action(name) is None:
            raise Refused(f"--tool {value!r}: NAME is a tool as clients see it, <target>___<tool>")
        limits[name] = None if match["value"] == "none" else int(match["value"])
    return limits


def check_tools_exist(platform: Platform, limits: dict[str, int | None]) -> None:
    """A limit is set only on a tool that exists now (a typo would limit nothing); dropping one always works."""
    targets = [*platform.tool_store().targets(), builtin_axon_target("http://axon")]
    known = {tool.action for target in targets for tool in target.tools}
    for name, value in limits.items():
        if value is not None and name not in known:
            raise Refused(f"no tool {name} is stored (agentctl tools list shows them; sync its target first)")
