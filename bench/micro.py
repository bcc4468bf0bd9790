"""Micro-benchmarks, in the bench's own process: SigV4 verification, the signature work on a dispatch, and the
governance decision (Cedar evaluation, rate-limit check) at 10 / 100 / 1,000 policies.

Every figure is the distribution of many timed calls (time.perf_counter_ns), after a warm-up, reported as
p50/p99 in microseconds (µs) or milliseconds (ms).
"""

from __future__ import annotations

import gc
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from agent_runtime import receipts
from agent_runtime.replay import make_replay_store
from agent_runtime.sigv4 import Credential, RawRequest, ReplayGuard, SigV4Verifier, StaticKeys, sign
from bench.stats import summarize

REGION = "us-east-1"
BENCH_PRINCIPAL = "bench"
_CLIENT = Credential("AKARBENCHBENCHBENCH2", "bench-secret-0123456789abcdefghijklmnopqrstu", BENCH_PRINCIPAL)
_ORBIT = Credential("AKARBENCHORBITORBIT2", "orbit-secret-0123456789abcdefghijklmnopqrstu", "orbit")


class Samples:
    """Per-call wall-clock and CPU (this thread's) seconds of a timed loop."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def summary(self, scale: float = 1e6, digits: int = 1) -> dict[str, Any]:
        """Both distributions: `wall` is the latency as a caller sees it, `cpu` the cost of the code itself
        (the same on an idle machine; on a busy one the wall-clock tail also holds the time other processes
        had the core)."""
        return {"wall": summarize(self.wall, scale, digits), "cpu": summarize(self.cpu, scale, digits)}

    def __add__(self, other: Samples) -> Samples:
        total = Samples()
        total.wall = [a + b for a, b in zip(self.wall, other.wall, strict=True)]
        total.cpu = [a + b for a, b in zip(self.cpu, other.cpu, strict=True)]
        return total


def _time_calls(fn: Callable[[int], Any], count: int, warmup: int = 50) -> Samples:
    """fn(i) for i in range(warmup, warmup + count) timed, after the untimed calls fn(0..warmup-1).

    The garbage collector is off while timing (its pauses belong to no one call), on between runs.
    """
    for i in range(warmup):
        fn(i)
    samples = Samples()
    wall, cpu = samples.wall, samples.cpu
    clock, thread_clock = time.perf_counter_ns, time.thread_time_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(warmup, warmup + count):
            started, started_cpu = clock(), thread_clock()
            fn(i)
            cpu.append((thread_clock() - started_cpu) / 1e9)
            wall.append((clock() - started) / 1e9)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _raw(method: str, url: str, body: bytes, signed: dict[str, str], extra: dict[str, str]) -> RawRequest:
    """What gunicorn hands the verifier: the signed headers plus what a real client adds, by lowercase name."""
    parts = urlsplit(url)
    headers = {k.lower(): v for k, v in {**extra, **signed}.items()}
    headers.setdefault("host", parts.netloc)
    if body:
        headers["content-length"] = str(len(body))
    return RawRequest(method, parts.path, parts.query, headers, body)


_CLIENT_EXTRA = {"User-Agent": "python-requests/2.32", "Accept": "*/*", "Accept-Encoding": "gzip, deflate"}


def machine_speed(repeats: int = 5) -> float:
    """CPU milliseconds of a fixed piece of Python work of the kind a request does (JSON both ways, SHA-256 and
    HMAC, string formatting, dict building), the fastest of `repeats`: a yardstick for comparing runs, because this
    shared machine's speed changes from hour to hour (the same code has measured 70 and 120 µs per SigV4 check)."""
    import hashlib
    import hmac

    body = json.dumps({"intent": "call_reasoning", "context": {"user_id": "u1", "pad": "x" * 200}}).encode()
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for i in range(2000):
            data = json.loads(body)
            data["context"]["request_id"] = f"r{i}"
            encoded = json.dumps(data, separators=(",", ":")).encode()
            digest = hashlib.sha256(encoded).hexdigest()
            hmac.new(b"key", digest.encode(), hashlib.sha256).hexdigest()
            {f"h{k}": str(k) for k in range(20)}
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def _memory_store() -> ReplayGuard:
    """A memory replay store as a service makes it: it judges what is signed from its next whole second on, so
    this waits for that second (the requests and receipts are signed after)."""
    return make_replay_store("memory", table_name="")


def _verifier(service: str, credential: Credential) -> SigV4Verifier:
    return SigV4Verifier(service=service, region=REGION, keys=StaticKeys([credential]), replay_guard=_memory_store())


def _signed_requests(count: int, make_body: Callable[[int], bytes], url: str, service: str, cred: Credential,
                     headers: dict[str, str]) -> list[RawRequest]:  # fmt: skip
    requests = []
    for i in range(count):
        body = make_body(i)
        signed = sign("POST", url, body, cred, service=service, region=REGION, headers=headers)
        requests.append(_raw("POST", url, body, signed, _CLIENT_EXTRA))
    return requests


def _one_kb_body(i: int) -> bytes:
    text = json.dumps({"intent": "call_reasoning", "context": {"request_id": f"{i}-{uuid.uuid4()}", "pad": ""}})
    pad = 1024 - len(text)
    return json.dumps(
        {"intent": "call_reasoning", "context": {"request_id": f"{i}-{uuid.uuid4()}", "pad": "x" * pad}}
    ).encode()


def _dispatch_body(i: int) -> bytes:
    return json.dumps({"intent": "call_reasoning", "context": {"user_id": "bench", "request_id": f"r{i}"}}).encode()


def sigv4_verify(count: int = 5000) -> dict[str, Any]:
    """SigV4Verifier.verify on a 1 KB POST body: canonicalisation, HMAC, constant-time compare, replay record."""
    url = "http://127.0.0.1:8080/dispatch"
    warm = 200
    # The memory replay store refuses what was signed before it started: make it first.
    verifier = _verifier("execute-api", _CLIENT)
    requests = _signed_requests(
        count + warm, _one_kb_body, url, "execute-api", _CLIENT, {"Content-Type": "application/json"}
    )
    assert all(len(r.body) == 1024 for r in requests)
    samples = _time_calls(lambda i: verifier.verify(requests[i]), count, warmup=warm)
    return {"body_bytes": 1024, "us": samples.summary()}


def dispatch_signatures(count: int = 3000) -> dict[str, Any]:
    """The signature work a dispatch adds: Orbit verifies the client, signs its call to Axon (botocore's signer,
    as Orbit does), Axon verifies Orbit; Governance signs a receipt and Axon verifies it (Ed25519)."""
    warm = 100
    total = count + warm
    orbit_verifier = _verifier("execute-api", _CLIENT)  # before signing: see sigv4_verify
    axon_verifier = _verifier("axon", _ORBIT)
    guard = _memory_store()  # the receipts' use records: also before they are issued
    orbit_url = "http://127.0.0.1:8080/dispatch"
    axon_url = "http://127.0.0.1:8081/reason"
    client_requests = _signed_requests(
        total, _dispatch_body, orbit_url, "execute-api", _CLIENT, {"Content-Type": "application/json"}
    )
    private_pem, public_pem = receipts.generate_key_pair()
    private_key = receipts.load_private_key(private_pem)
    public_key = receipts.load_public_key(public_pem)
    now = time.time()
    contexts = [{"user_id": "bench", "request_id": f"r{i}"} for i in range(total)]
    tokens = [
        receipts.issue(
            private_key,
            decision_id=str(uuid.uuid4()),
            principal=BENCH_PRINCIPAL,
            intent="call_reasoning",
            digest=receipts.request_digest("call_reasoning", contexts[i]),
            policy_set_version=1,
            now=now,
        )
        for i in range(total)
    ]
    axon_bodies = [
        json.dumps(
            {"intent": "call_reasoning", "context": contexts[i], "principal": BENCH_PRINCIPAL, "decision_id": "d"}
        ).encode()
        for i in range(total)
    ]

    def axon_headers(i: int) -> dict[str, str]:
        return {
            "X-Correlation-ID": str(uuid.UUID(int=i)),
            receipts.RECEIPT_HEADER: tokens[i],
            "Content-Type": "application/json",
        }

    axon_requests = [
        _raw(
            "POST",
            axon_url,
            axon_bodies[i],
            sign("POST", axon_url, axon_bodies[i], _ORBIT, service="axon", region=REGION, headers=axon_headers(i)),
            {"User-Agent": "python-requests/2.32", "Accept": "*/*"},
        )
        for i in range(total)
    ]

    orbit_verify = _time_calls(lambda i: orbit_verifier.verify(client_requests[i]), count, warm)
    orbit_sign = _time_calls(
        lambda i: sign(
            "POST", axon_url, axon_bodies[i], _ORBIT, service="axon", region=REGION, headers=axon_headers(i)
        ),
        count,
        warm,
    )
    axon_verify = _time_calls(lambda i: axon_verifier.verify(axon_requests[i]), count, warm)
    receipt_issue = _time_calls(
        lambda i: receipts.issue(
            private_key,
            decision_id="d",
            principal=BENCH_PRINCIPAL,
            intent="call_reasoning",
            digest="0" * 64,
            policy_set_version=1,
            now=now,
        ),
        count,
        warm,
    )
    receipt_verify = _time_calls(
        lambda i: receipts.verify(
            tokens[i],
            [public_key],
            principal=BENCH_PRINCIPAL,
            intent="call_reasoning",
            digest=receipts.request_digest("call_reasoning", contexts[i]),
            replay_guard=guard,
        ),
        count,
        warm,
    )
    return {
        "orbit_verify_client_us": orbit_verify.summary(),
        "orbit_sign_for_axon_us": orbit_sign.summary(),
        "axon_verify_orbit_us": axon_verify.summary(),
        "governance_issue_receipt_us": receipt_issue.summary(),
        "axon_verify_receipt_us": receipt_verify.summary(),
        # Sums of the i-th calls: the distribution of the work one dispatch carries.
        "two_signature_checks_us": (orbit_verify + axon_verify).summary(),
        "all_signature_work_us": (orbit_verify + orbit_sign + axon_verify + receipt_issue + receipt_verify).summary(),
    }


# --- governance -------------------------------------------------------------------------------------------


def policy_text(count: int, *, sliceable: bool = True) -> str:
    """`count` Cedar policies valid against the schema, the default permit first.

    sliceable=True, a realistic mix: 70 % scoped to another client (`principal == Client::"tenant-N"`), 20 %
    to another action, 10 % with no scope that slicing could use (conditions on the context), so every
    request evaluates the default permit plus a tenth of the set. sliceable=False, the worst case: every
    policy is a condition that applies to every request, so slicing removes nothing.
    """
    lines = [
        '@id("allow-call-reasoning")\npermit (principal, action == Action::"call_reasoning", '
        'resource == Service::"axon");'
    ]
    for i in range(1, count):
        kind = i % 10 if sliceable else 9
        if kind < 7:
            lines.append(
                f'@id("tenant-{i}-summarize")\npermit (principal == Client::"tenant-{i}", '
                f'action == Action::"summarize", resource == Service::"axon")\n'
                f"when {{ context.hour_utc >= {i % 24} }};"
            )
        elif kind < 9:
            lines.append(
                f'@id("no-tool-{i}")\nforbid (principal, action == Action::"execute_tool", resource)\n'
                f'when {{ context.user_id == "blocked-{i}" }};'
            )
        else:
            lines.append(
                f'@id("deny-{i}")\nforbid (principal, action, resource)\n'
                f'when {{ context.user_id == "banned-{i}" || '
                f'context.source_ip.isInRange(ip("10.{i // 250 % 250}.{i % 250}.0/24")) }};'
            )
    return "\n".join(lines)


def _policy_set(count: int, sliceable: bool, schema_text: str) -> Any:
    from governance.policies import CompiledPolicySet, parse_policies, validate

    policies = parse_policies(policy_text(count, sliceable=sliceable), f"bench-{count}")
    problems = validate(policies, schema_text)
    if problems:
        raise ValueError(f"generated policies are invalid: {problems[0]}")
    return CompiledPolicySet(1, policies)


def _slice_size(policies: list[Any], principal: str, intent: str) -> int:
    """How many policies can apply to the request: those whose `==` scopes do not name another entity."""

    def excludes(scope: dict[str, Any], kind: str, name: str) -> bool:
        entity = scope.get("entity") if scope.get("op") == "==" else None
        return bool(entity) and (entity.get("type"), entity.get("id")) != (kind, name)

    return sum(
        1
        for p in policies
        if not excludes(p.json.get("principal", {}), "Client", principal)
        and not excludes(p.json.get("action", {}), "Action", intent)
    )


def _context(request_id: str) -> dict[str, Any]:
    from governance.evaluate import DecisionRequest

    request = DecisionRequest(
        principal=BENCH_PRINCIPAL,
        action="call_reasoning",
        user_id="bench",
        request_id=request_id,
        source_ip="127.0.0.1",
        correlation_id=request_id,
        request_digest="0" * 64,
    )
    return request.cedar_context(datetime.now(UTC), "local")


def governance_decision(
    schema_text: str,
    *,
    sizes: tuple[int, ...] = (10, 100, 1000),
    evaluations: int = 2000,
    limiter: Any = None,
    store: Any = None,
    with_limiter: int = 300,
) -> dict[str, Any]:
    """Per size: CompiledPolicySet.evaluate alone (realistic mix, and the unsliceable worst case), and evaluate
    plus RateLimiter.check against the emulator (three DynamoDB counters), the decision without transport."""
    from governance.store import Limits

    limits = Limits(global_limit=10**9, per_principal=10**9, per_ip=10**9)
    contexts = [_context(f"r{i}") for i in range(max(evaluations, with_limiter) + 100)]
    out: dict[str, Any] = {}
    for size in sizes:
        entry: dict[str, Any] = {}
        for label, sliceable in (("mix", True), ("unsliced", False)):
            policy_set = _policy_set(size, sliceable, schema_text)
            started = time.perf_counter()
            first = policy_set.evaluate(BENCH_PRINCIPAL, "call_reasoning", contexts[0])
            cold = time.perf_counter() - started
            if not first.allowed or first.errors:
                raise ValueError(f"the generated policy set does not allow the bench request: {first}")
            slice_size = _slice_size(policy_set.policies, BENCH_PRINCIPAL, "call_reasoning")
            samples = _time_calls(
                lambda i, ps=policy_set: ps.evaluate(BENCH_PRINCIPAL, "call_reasoning", contexts[i]),
                evaluations,
            )
            entry[label] = {
                "policies_in_slice": slice_size,
                "first_evaluation_ms": round(cold * 1000, 2),
                "evaluate_us": samples.summary(),
            }
            if label == "mix" and limiter is not None:

                def decide(i: int, ps: Any = policy_set) -> None:
                    now = time.time()
                    result = limiter.check(BENCH_PRINCIPAL, "127.0.0.1", limits, now)
                    if not result.allowed:
                        raise ValueError("the bench's rate limits are too low")
                    ps.evaluate(BENCH_PRINCIPAL, "call_reasoning", contexts[i])

                entry[label]["evaluate_and_rate_limit_ms"] = _time_calls(decide, with_limiter, 20).summary(1000, 2)
        out[str(size)] = entry
    if limiter is not None:
        out["rate_limit_check_ms"] = _time_calls(
            lambda i: limiter.check(BENCH_PRINCIPAL, "127.0.0.1", limits, time.time()), with_limiter, 20
        ).summary(1000, 2)
    if store is not None:
        out["read_config_ms"] = _time_calls(lambda i: store.read_config(), with_limiter, 20).summary(1000, 2)
    return out


# --- the governance handler, in process ----------------------------------------------------------------------


def handler_event(principal: str, i: int) -> dict[str, Any]:
    """An event as Orbit sends it for a dispatch, with a request id of its own."""
    context = {"user_id": "bench", "request_id": f"h{i}-{uuid.uuid4()}"}
    return {
        "principal": principal,
        "intent": "call_reasoning",
        "context": context,
        "source_ip": "127.0.0.1",
        "correlation_id": str(uuid.uuid4()),
        "request_digest": receipts.request_digest("call_reasoning", context),
    }


def _own_cpu() -> float:
    """CPU seconds of this process's threads, the bench's sampler excepted (it is not the handler's work; the
    handler's helper threads, and the span exporter's, are). Threads that ended took their time with them, so the
    handler's pool is long-lived (it is)."""
    total = 0.0
    for thread in threading.enumerate():
        if thread.name.startswith("bench-") or thread.ident is None:
            continue
        try:
            total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except OSError:  # the thread ended meanwhile
            continue
    return total


def governance_handler(
    principal: str, emulator_cpu: Callable[[], float], *, count: int = 150, blocks: int = 3
) -> dict[str, Any]:
    """CPU per decision of `governance.handler.lambda_handler` called in this process, as the Lambda runtime calls
    it: the boto3 calls to DynamoDB (three counters, the decision log) and Secrets Manager are included, the
    emulator's work (measured from its process, `emulator_cpu()` in seconds) and the Lambda API's HTTP serving are
    not. The CPU of every thread but the bench's own sampler, so the handler's helper threads count. Blocks
    alternate tracing on (every span recorded and exported) and off (OTEL_SDK_DISABLED); each figure is the
    median of its blocks."""
    import os
    import statistics
    import sys

    from agent_runtime import tracing
    from governance.handler import lambda_handler

    def block(offset: int) -> tuple[float, float, float]:
        started, cpu, emulator = time.perf_counter(), _own_cpu(), emulator_cpu()
        for i in range(offset, offset + count):
            answer = lambda_handler(handler_event(principal, i), None)
            if not answer.get("allowed"):
                raise ValueError(f"the handler refused the bench's request: {answer.get('reason')}")
        return (
            (_own_cpu() - cpu) / count * 1000,
            (time.perf_counter() - started) / count * 1000,
            (emulator_cpu() - emulator) / count * 1000,
        )

    figures: dict[str, list[tuple[float, float, float]]] = {"on": [], "off": []}
    stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 - the audit events and EMF lines
    try:
        for i in range(20):  # warm: the runtime, the clients' connections, the policy set
            lambda_handler(handler_event(principal, -i - 1), None)
        for n in range(blocks):
            for mode in ("on", "off"):
                if mode == "off":
                    os.environ["OTEL_SDK_DISABLED"] = "true"
                tracing.configure_tracing("governance")
                os.environ.pop("OTEL_SDK_DISABLED", None)
                figures[mode].append(block((2 * n + (mode == "off")) * count))
    finally:
        sys.stdout.close()
        sys.stdout = stdout
        tracing.configure_tracing("governance")
    return {
        mode: {
            "cpu_ms": round(statistics.median(b[0] for b in runs), 3),
            "wall_ms": round(statistics.median(b[1] for b in runs), 3),
            "emulator_cpu_ms": round(statistics.median(b[2] for b in runs), 3),
            "blocks_cpu_ms": [round(b[0], 3) for b in runs],
        }
        for mode, runs in figures.items()
    } | {"count": count, "blocks": blocks}
