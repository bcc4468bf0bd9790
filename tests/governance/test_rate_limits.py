"""RateLimiter against a recording DynamoDB: what it asks for, and what it needs of the answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from governance.rate_limits import RateLimiter
from governance.store import Limits


class RecordingDynamoDB:
    """Counts like DynamoDB's ADD; answers Attributes only when asked for them (as DynamoDB does with NONE)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.calls: list[dict[str, Any]] = []

    def update_item(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        key = params["Key"]["pk"]["S"]
        self.counts[key] = self.counts.get(key, 0) + int(params["ExpressionAttributeValues"][":by"]["N"])
        if params["ReturnValues"] == "NONE":
            return {}
        return {"Attributes": {"count": {"N": str(self.counts[key])}}}


def test_a_call_refused_by_its_own_limit_is_taken_back_from_the_global_count_without_asking_its_value():
    dynamodb = RecordingDynamoDB()
    limiter = RateLimiter(dynamodb, "limits", ThreadPoolExecutor(max_workers=3))
    limits = Limits(100, 1, 100)
    assert limiter.check("bob", "10.0.0.1", limits, now=120.0).allowed
    refused = limiter.check("bob", "10.0.0.1", limits, now=120.0)  # the take-back's answer has no Attributes
    assert (refused.allowed, refused.scope) == (False, "principal")
    assert dynamodb.counts["global#120"] == 1  # bob's refused call is not on everyone's budget
    take_back = dynamodb.calls[-1]
    assert take_back["ExpressionAttributeValues"][":by"] == {"N": "-1"}
    assert take_back["ReturnValues"] == "NONE"
    assert all(call["ReturnValues"] == "UPDATED_NEW" for call in dynamodb.calls[:-1])
