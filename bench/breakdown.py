"""Where a dispatch's time goes: its legs measured one by one, at concurrency 1, from the bench's process.

For each of `count` rounds, in order:
0. a full dispatch to Orbit, signed with the client's credential;
1. Governance, the way Orbit asks it: boto3 `lambda.invoke` against the stack's Lambda API, with the event
   Orbit sends; the answer carries `decision_time_ms`, the handler's own time (read the configuration, count
   the rate limits, evaluate Cedar, sign the receipt, write the audit event);
2. Axon's `POST /reason` with that allow's receipt, signed with Orbit's key (what Orbit sends after an allow);
3. Axon's `GET /reason` heartbeat, signed the same way (the direct-Axon baseline).

Measured in the same rounds, under the same conditions, the legs split the zero-trust overhead into: Governance's
handler, the Lambda hop around it, Axon's receipt work, and what remains in Orbit itself.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any

from agent_runtime.receipts import RECEIPT_HEADER, request_digest
from agent_runtime.sigv4 import Signer
from bench.stats import summarize


def measure(
    lambda_client: Any,
    function: str,
    axon_port: int,
    orbit_key: Any,
    orbit_port: int,
    client_key: Any,
    *,
    principal: str,
    region: str,
    count: int = 200,
) -> dict[str, Any]:
    name, _, qualifier = function.partition(":")
    invoke_args = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
    signer = Signer(orbit_key.access_key_id, orbit_key.secret_access_key, "axon", region)
    client_signer = Signer(client_key.access_key_id, client_key.secret_access_key, "execute-api", region)
    conn = http.client.HTTPConnection("127.0.0.1", axon_port, timeout=10)
    orbit = http.client.HTTPConnection("127.0.0.1", orbit_port, timeout=10)
    dispatch_s: list[float] = []
    invoke_s: list[float] = []
    handler_s: list[float] = []
    post_s: list[float] = []
    get_s: list[float] = []
    failures: dict[str, int] = {}

    def fail(kind: str) -> None:
        failures[kind] = failures.get(kind, 0) + 1

    def send(
        method: str, path: str, body: bytes, headers: dict[str, str], to: http.client.HTTPConnection = conn
    ) -> tuple[int, bytes, float]:
        port = axon_port if to is conn else orbit_port
        signed = (signer if to is conn else client_signer).sign(method, f"127.0.0.1:{port}", path, body, headers)
        started = time.perf_counter()
        try:
            to.request(method, path, body=body or None, headers=signed)
            response = to.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            to.close()  # http.client reconnects on the next request
            return 0, type(exc).__name__.encode(), time.perf_counter() - started
        return response.status, data, time.perf_counter() - started

    try:
        for i in range(count + 10):
            record = i >= 10  # the first ones warm the connections and caches
            cid = str(uuid.uuid4())
            status, _, dispatched = send(
                "POST",
                "/dispatch",
                json.dumps(
                    {"intent": "call_reasoning", "context": {"user_id": "bench", "request_id": f"d-{cid}"}}
                ).encode(),
                {"Content-Type": "application/json"},
                orbit,
            )
            if status != 200:
                fail(f"dispatch: HTTP {status}")
                continue
            context = {"user_id": "bench", "request_id": f"breakdown-{cid}"}
            event = {
                "principal": principal,
                "intent": "call_reasoning",
                "context": context,
                "source_ip": "127.0.0.1",
                "correlation_id": cid,
                "request_digest": request_digest("call_reasoning", context),
            }
            started = time.perf_counter()
            response = lambda_client.invoke(
                InvocationType="RequestResponse", Payload=json.dumps(event).encode(), **invoke_args
            )
            decision = json.loads(response["Payload"].read())
            invoked = time.perf_counter() - started
            if not decision.get("allowed") or not decision.get("receipt"):
                fail(f"governance: {decision.get('reason', 'no answer')}")
                continue
            body = json.dumps(
                {
                    "intent": "call_reasoning",
                    "context": context,
                    "principal": principal,
                    "decision_id": decision["decision_id"],
                }
            ).encode()
            status, _, posted = send(
                "POST",
                "/reason",
                body,
                {"Content-Type": "application/json", "X-Correlation-ID": cid, RECEIPT_HEADER: decision["receipt"]},
            )
            if status != 200:
                fail(f"axon POST: HTTP {status}")
                continue
            status, _, got = send("GET", "/reason", b"", {"X-Correlation-ID": f"{cid}-get"})
            if status != 200:
                fail(f"axon GET: HTTP {status}")
                continue
            if record:
                dispatch_s.append(dispatched)
                invoke_s.append(invoked)
                handler_s.append(decision["decision_time_ms"] / 1000)
                post_s.append(posted)
                get_s.append(got)
    finally:
        conn.close()
        orbit.close()
    return {
        "count": len(invoke_s),
        "failures": failures,
        "dispatch_ms": summarize(dispatch_s),
        "governance_invoke_ms": summarize(invoke_s),
        "governance_handler_ms": summarize(handler_s),
        "lambda_hop_ms": summarize(a - b for a, b in zip(invoke_s, handler_s, strict=True)),
        "axon_post_reason_ms": summarize(post_s),
        "axon_get_reason_ms": summarize(get_s),
    }


def split(breakdown: dict[str, Any]) -> list[dict[str, Any]]:
    """The zero-trust overhead (dispatch p50 - heartbeat p50) as parts, from medians (so they add up only
    approximately; the remainder is what is left for Orbit's own work)."""
    dispatch_p50 = breakdown["dispatch_ms"]["p50"]
    axon_p50 = breakdown["axon_get_reason_ms"]["p50"]
    handler = breakdown["governance_handler_ms"]["p50"]
    hop = breakdown["lambda_hop_ms"]["p50"]
    receipt = breakdown["axon_post_reason_ms"]["p50"] - breakdown["axon_get_reason_ms"]["p50"]
    overhead = dispatch_p50 - axon_p50
    rest = overhead - handler - hop - receipt
    parts = [
        {"part": "Governance handler: config read, 3 rate-limit counters, Cedar, receipt", "ms": handler},
        {"part": "Lambda Invoke around it: boto3, HTTP, the local Lambda API, audit and metrics output", "ms": hop},
        {"part": "Axon's POST /reason instead of the GET heartbeat: body, receipt check", "ms": receipt},
        {"part": "Orbit itself: verify, parse, sign for Axon, logs, metrics (the remainder)", "ms": rest},
    ]
    for part in parts:
        part["share"] = round(part["ms"] / overhead, 3) if overhead > 0 else None
        part["ms"] = round(part["ms"], 2)
    return [
        {"part": "Zero-trust overhead (dispatch p50 − heartbeat p50)", "ms": round(overhead, 2), "share": 1.0},
        *parts,
    ]
