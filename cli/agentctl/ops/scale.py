"""Scaling an ECS service by hand: the desired count, inside (or knowingly outside) its autoscaling range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentctl.ops import ecs as ecs_ops
from agentctl.ops.errors import Refused
from agentctl.ops.platform import Platform


@dataclass(frozen=True)
class ScalePlan:
    service: str
    ecs_service: str
    previous: int
    count: int
    bounds: tuple[int, int] | None  # the autoscaling range, when the service has one
    widened: tuple[int, int] | None  # the range after --adjust-autoscaling, when it must change

    @property
    def scale_in(self) -> bool:
        return self.count < self.previous


def plan(platform: Platform, service: str, count: int, adjust: bool) -> ScalePlan:
    """Target tracking keeps the count inside the autoscaling range: a count outside it is refused, unless
    `adjust` widens the range (until the next deploy, which applies Terraform's range again)."""
    clients, names, env = platform.clients, platform.names, platform.env
    state = ecs_ops.describe_one(clients.ecs, names, service)
    bounds = ecs_ops.scaling_range(clients.autoscaling, names, service)
    widened = None
    if bounds is not None and not bounds[0] <= count <= bounds[1]:
        if not adjust:
            raise Refused(
                f"{count} is outside {service}'s autoscaling range {bounds[0]}-{bounds[1]}: target tracking would "
                f"move it back. Add --adjust-autoscaling to widen the range until the next deploy, or change "
                f"{service}'s min_capacity/max_capacity in infra/envs/{env}"
            )
        widened = (min(bounds[0], count), max(bounds[1], count))
    return ScalePlan(service, state.name, state.desired, count, bounds, widened)


def execute(platform: Platform, scale: ScalePlan, *, wait: bool, timeout: float) -> dict[str, Any]:
    """Widen the range if planned, set the desired count, and wait until that many tasks run (unless not `wait`)."""
    clients, names, progress = platform.clients, platform.names, platform.progress
    if scale.widened and scale.bounds:
        ecs_ops.widen_scaling_range(clients.autoscaling, names, scale.service, *scale.widened)
        progress(
            f"autoscaling range of {scale.service}: {scale.bounds[0]}-{scale.bounds[1]} -> "
            f"{scale.widened[0]}-{scale.widened[1]}"
        )
    ecs_ops.set_desired(clients.ecs, names, scale.service, scale.count)
    progress(f"{scale.ecs_service}: desired {scale.previous} -> {scale.count}")
    scaling_range = scale.widened or scale.bounds
    result: dict[str, Any] = {
        "service": scale.service,
        "previous_desired": scale.previous,
        "desired": scale.count,
        "autoscaling_range": list(scaling_range) if scaling_range else None,
        "running": None,
        "waited": wait,
    }
    if wait:
        result["running"] = ecs_ops.wait_count(
            clients.ecs, names, scale.service, scale.count, timeout, progress
        ).running
    return result
