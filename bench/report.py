"""Goals, and the Markdown that docs/performance.md quotes, computed from results.json / soak.json only.

The tables in docs/performance.md sit between marker comments and are rewritten from the JSON files by
`make bench` / `make soak`; tests/bench/test_report.py checks that the document says what the JSON says.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "results.md"
SOAK_JSON = BENCH_DIR / "soak.json"
PERFORMANCE_MD = REPO_ROOT / "docs" / "performance.md"

BENCH_MARKERS = ("<!-- bench:results:start -->", "<!-- bench:results:end -->")
SOAK_MARKERS = ("<!-- bench:soak:start -->", "<!-- bench:soak:end -->")

# The goals of issue 7 (targets; not asserted in unit tests, reported here).
GOALS = {
    "dispatch_vs_hello": 0.20,  # full dispatch throughput / hello-world throughput, at least
    "dispatch_errors": 0,  # errors on the dispatch path, at most
    "open_loop_p99_ms": 50.0,  # p99 of the dispatch at half its max throughput, at most
    "zero_trust_overhead_p50_ms": 5.0,  # dispatch p50 - direct-Axon p50, at most
    "sigv4_verify_p50_us": 100.0,  # SigV4Verifier.verify of a 1 KB body, median, at most
    "policy_eval_p99_us_1000": 1000.0,  # Cedar evaluation at 1,000 policies, p99, at most
    "soak_memory_growth": 0.10,  # RSS growth of any service over the soak, at most
    # The goals of issue 16 (cost per call): CPU milliseconds, at most.
    "orbit_cpu_ms": 1.5,  # Orbit's CPU per dispatch (median of the busiest runs, tracing on)
    "axon_cpu_ms": 0.8,  # Axon's CPU per dispatch
    "handler_cpu_ms": 1.5,  # the governance handler's CPU per decision, in process, boto3 included
    "tracing_cpu_ms": 0.2,  # tracing on minus off, Orbit + Governance + Axon, per dispatch
}
PRODUCT = ("orbit", "governance", "axon")
#: Where the AWS estimate's figures come from (docs/performance.md says more).
AWS_SOURCES = {
    "dynamodb_ms": "DynamoDB: single-digit-millisecond latency for GetItem/PutItem-style operations "
    "(https://aws.amazon.com/dynamodb/, https://repost.aws/knowledge-center/dynamodb-high-latency)",
    "lambda_invoke_ms": "Lambda: a warm synchronous Invoke round trip in the same Region (an assumption: AWS "
    "publishes no fixed figure; see docs/performance.md)",
}
PROCESS_LABELS = {
    "emulator": "AWS emulator (moto)",
    "governance": "Governance (Lambda API, 2 one-thread workers)",
    "axon": "Axon (gunicorn)",
    "orbit": "Orbit (gunicorn)",
    "hello": "hello-world (gunicorn)",
    "loadgen": "load generator (worker processes)",
    "bench": "bench coordinator (sampling, micro-benchmarks)",
}
PATH_LABELS = {
    "hello": "hello-world (ceiling)",
    "axon": "direct Axon (signed GET /reason)",
    "dispatch": "full dispatch",
}


# --- goals ------------------------------------------------------------------------------------------------


def _runs(results: dict[str, Any], target: str, mode: str = "closed") -> list[dict[str, Any]]:
    return [r for r in results["runs"] if r["target"] == target and r["mode"] == mode]


def _best(results: dict[str, Any], target: str) -> dict[str, Any]:
    return max(_runs(results, target), key=lambda r: r["throughput_rps"])


def _at_concurrency(results: dict[str, Any], target: str, concurrency: int) -> dict[str, Any]:
    return next(r for r in _runs(results, target) if r["concurrency"] == concurrency)


def summarize_results(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures the goals are judged on."""
    hello, axon, dispatch = (_best(results, t) for t in ("hello", "axon", "dispatch"))
    lowest = min(r["concurrency"] for r in _runs(results, "dispatch"))
    axon_1 = _at_concurrency(results, "axon", lowest)
    dispatch_1 = _at_concurrency(results, "dispatch", lowest)
    open_runs = _runs(results, "dispatch", "open")
    dispatch_errors = sum(r["errors"] for r in _runs(results, "dispatch") + open_runs)
    return {
        "hello_max_rps": hello["throughput_rps"],
        "hello_max_at_concurrency": hello["concurrency"],
        "axon_max_rps": axon["throughput_rps"],
        "axon_max_at_concurrency": axon["concurrency"],
        "dispatch_max_rps": dispatch["throughput_rps"],
        "dispatch_max_at_concurrency": dispatch["concurrency"],
        "dispatch_vs_hello": round(dispatch["throughput_rps"] / hello["throughput_rps"], 4),
        "dispatch_vs_axon": round(dispatch["throughput_rps"] / axon["throughput_rps"], 4),
        "overhead_at_concurrency": lowest,
        "axon_p50_ms": axon_1["latency_ms"]["p50"],
        "dispatch_p50_ms": dispatch_1["latency_ms"]["p50"],
        "zero_trust_overhead_p50_ms": round(dispatch_1["latency_ms"]["p50"] - axon_1["latency_ms"]["p50"], 2),
        "dispatch_errors": dispatch_errors,
        "all_errors": sum(r["errors"] for r in results["runs"]),
        "other_load_mean_cores": round(sum(r["other_busy_cores"] for r in results["runs"]) / len(results["runs"]), 2),
        "other_load_max_cores": max(r["other_busy_cores"] for r in results["runs"]),
        "open_loop_rate_rps": open_runs[0]["target_rate_rps"] if open_runs else None,
        "open_loop_p99_ms": open_runs[0]["latency_ms"]["p99"] if open_runs else None,
        "cost": summarize_cost(results),
    }


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def summarize_cost(results: dict[str, Any]) -> dict[str, Any] | None:
    """CPU per dispatch by process, tracing on and off (medians of the repeated runs at the busiest level); the
    handler's own CPU in process; the Lambda API's HTTP serving as the rest of its process; the AWS estimate."""
    cost = results.get("cost")
    if not cost or not cost.get("tracing_on"):
        return None
    out: dict[str, Any] = {"concurrency": cost["concurrency"]}
    for mode in ("tracing_on", "tracing_off"):
        runs = cost.get(mode) or []
        names = {name for r in runs for name in r["cpu_ms_per_request"]}
        per = {n: _median([r["cpu_ms_per_request"].get(n) for r in runs]) for n in sorted(names)}
        per = {n: round(v, 3) for n, v in per.items() if v is not None}
        out[mode] = per
        out[f"{mode}_product_ms"] = round(sum(per.get(n, 0.0) for n in PRODUCT), 3) if per else None
    handler = results.get("micro", {}).get("governance_handler")
    if handler:
        out["handler_on_ms"] = handler["on"]["cpu_ms"]
        out["handler_off_ms"] = handler["off"]["cpu_ms"]
        out["handler_emulator_ms"] = handler["on"]["emulator_cpu_ms"]
        governance = out["tracing_on"].get("governance")
        if governance is not None:
            out["lambda_api_serving_ms"] = round(governance - handler["on"]["cpu_ms"], 3)
    if out.get("tracing_off_product_ms") is not None:
        out["tracing_delta_ms"] = round(out["tracing_on_product_ms"] - out["tracing_off_product_ms"], 3)
    if cost.get("hello_floor"):
        out["hello_floor"] = cost["hello_floor"]
    out["aws"] = aws_estimate(results, handler)
    return out


def aws_estimate(results: dict[str, Any], handler: dict[str, Any] | None) -> dict[str, Any] | None:
    """A dispatch's p50 latency in AWS, estimated from this run: the local dispatch with the Lambda hop and the
    handler replaced by a Lambda Invoke round trip, the handler's own CPU (measured in process) and one DynamoDB
    round trip (the counters and the decision log are written concurrently; the configuration is cached)."""
    legs = results.get("breakdown")
    figures = (results.get("cost") or {}).get("aws")
    if not legs or not figures or not handler:
        return None
    dispatch = legs["dispatch_ms"]["p50"]
    invoke = legs["governance_invoke_ms"]["p50"]
    outside = dispatch - invoke  # client, Orbit, Axon: the same in AWS (loopback here, a VPC hop there)
    handler_ms = handler["on"]["cpu_ms"]
    estimate = outside + figures["lambda_invoke_ms"] + handler_ms + figures["dynamodb_ms"]
    return {
        "local_dispatch_p50_ms": dispatch,
        "local_governance_invoke_p50_ms": invoke,
        "outside_governance_ms": round(outside, 2),
        "lambda_invoke_ms": figures["lambda_invoke_ms"],
        "handler_cpu_ms": handler_ms,
        "dynamodb_ms": figures["dynamodb_ms"],
        "dispatch_p50_ms": round(estimate, 2),
        "sources": AWS_SOURCES,
    }


def _at_most(goal_id: str, description: str, value: float | None, shown: str) -> dict[str, Any]:
    """A goal of at most GOALS[goal_id] milliseconds; None: not measured in this run."""
    target = f"≤ {GOALS[goal_id]:g} ms"
    if value is None:
        return _goal(goal_id, description, target, None, "not measured", None)
    return _goal(goal_id, description, target, value, shown, value <= GOALS[goal_id])


def _goal(goal_id: str, description: str, target: str, measured: Any, shown: str, met: bool | None) -> dict[str, Any]:
    return {"id": goal_id, "goal": description, "target": target, "measured": measured, "shown": shown, "met": met}


def evaluate_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    s = results["summary"]
    micro = results.get("micro", {})
    goals = [
        _goal(
            "dispatch_vs_hello",
            "Full dispatch throughput vs the hello-world ceiling",
            f"≥ {GOALS['dispatch_vs_hello']:.0%}",
            s["dispatch_vs_hello"],
            f"{s['dispatch_vs_hello']:.1%} ({_num(s['dispatch_max_rps'])} / {_num(s['hello_max_rps'])} req/s)",
            s["dispatch_vs_hello"] >= GOALS["dispatch_vs_hello"],
        ),
        _goal(
            "dispatch_errors",
            "Errors on the dispatch path (every run)",
            "0",
            s["dispatch_errors"],
            str(s["dispatch_errors"]),
            s["dispatch_errors"] <= GOALS["dispatch_errors"],
        ),
    ]
    p99 = s["open_loop_p99_ms"]
    goals.append(
        _at_most(
            "open_loop_p99_ms",
            "Dispatch p99 at half its max throughput (open loop)",
            p99,
            f"{_num(p99)} ms at {_num(s['open_loop_rate_rps'])} req/s",
        )
    )
    overhead = s["zero_trust_overhead_p50_ms"]
    goals.append(
        _goal(
            "zero_trust_overhead_p50_ms",
            "Zero-trust overhead at p50 (dispatch p50 − direct-Axon p50)",
            f"≤ {GOALS['zero_trust_overhead_p50_ms']:g} ms",
            overhead,
            f"{_num(overhead)} ms ({_num(s['dispatch_p50_ms'])} − {_num(s['axon_p50_ms'])}, "
            f"concurrency {s['overhead_at_concurrency']})",
            overhead <= GOALS["zero_trust_overhead_p50_ms"],
        )
    )
    verify = micro.get("sigv4_verify")
    if verify:
        p50 = verify["us"]["wall"]["p50"]
        goals.append(
            _goal(
                "sigv4_verify_p50_us",
                "SigV4 verification of a 1 KB body, median",
                f"≤ {GOALS['sigv4_verify_p50_us']:g} µs",
                p50,
                f"{_num(p50)} µs (p99 {_num(verify['us']['wall']['p99'])} µs)",
                p50 <= GOALS["sigv4_verify_p50_us"],
            )
        )
    policies = micro.get("governance", {}).get("1000")
    if policies:
        mix = policies["mix"]["evaluate_us"]
        p99_cpu = mix["cpu"]["p99"]
        goals.append(
            _goal(
                "policy_eval_p99_us_1000",
                "Cedar evaluation at 1,000 policies, p99 (CPU time; wall-clock in the micro table)",
                f"≤ {GOALS['policy_eval_p99_us_1000'] / 1000:g} ms",
                p99_cpu,
                f"{_num(p99_cpu / 1000, 3)} ms (p50 {_num(mix['cpu']['p50'] / 1000, 3)} ms, "
                f"{policies['mix']['policies_in_slice']} policies in the slice)",
                p99_cpu <= GOALS["policy_eval_p99_us_1000"],
            )
        )
    goals += cost_goals(results.get("summary", {}).get("cost"))
    return goals


def cost_goals(cost: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not cost:
        return []
    on, level = cost["tracing_on"], cost["concurrency"]
    delta = cost.get("tracing_delta_ms")
    handler = cost.get("handler_on_ms")
    floor = (cost.get("hello_floor") or {}).get("cpu_ms_per_request")
    beside = f" (hello-world at the same rate: {_num(floor, 2)} ms)" if floor is not None else ""
    return [
        *(
            _at_most(goal_id, f"{label}'s CPU per dispatch (median at {level} connections, tracing on)",
                     on.get(name), f"{_num(on.get(name), 2)} ms{beside}")
            for goal_id, name, label in (("orbit_cpu_ms", "orbit", "Orbit"), ("axon_cpu_ms", "axon", "Axon"))
        ),
        _at_most(
            "handler_cpu_ms",
            "Governance handler's CPU per decision, in process (boto3 included; emulator and Lambda API not)",
            handler,
            f"{_num(handler, 2)} ms",
        ),
        _at_most(
            "tracing_cpu_ms",
            "Tracing at 100 % sampling, on minus off: CPU per dispatch of Orbit + Governance + Axon",
            delta,
            f"{_signed(delta or 0.0)} ms ({_num(cost.get('tracing_on_product_ms'), 2)} − "
            f"{_num(cost.get('tracing_off_product_ms'), 2)})",
        ),
    ]  # fmt: skip


def soak_goal(soak: dict[str, Any]) -> dict[str, Any]:
    worst = max(soak["growth"].values(), key=lambda g: g["growth"])
    return _goal(
        "soak_memory_growth",
        "Memory growth of any service over the soak (steady-state start → end)",
        f"≤ {GOALS['soak_memory_growth']:.0%}",
        worst["growth"],
        f"{worst['growth']:+.1%} ({worst['process']})",
        worst["growth"] <= GOALS["soak_memory_growth"],
    )


# --- Markdown ---------------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 1) -> str:
    """A number for a table: thousands separated, `digits` decimals below 100, none above; '–' for None."""
    if value is None:
        return "–"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+,.2f}" if abs(value) < 100 else f"{value:+,.0f}"


def _met(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[met]


def _para(text: str) -> str:
    """A paragraph wrapped at 120 characters (the Markdown line-length rule)."""
    return textwrap.fill(text, width=120, break_long_words=False, break_on_hyphens=False)


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "--:"}
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _speed(speed: dict[str, float] | None) -> str:
    if not speed:
        return ""
    return (
        f" The machine's speed: a fixed piece of Python work (`bench.micro.machine_speed`) took {_num(speed['start'])} "
        f"ms of CPU at the start and {_num(speed['end'])} ms at the end; this shared machine's speed changes from "
        "hour to hour, so compare runs by it."
    )


def render_results(results: dict[str, Any]) -> str:
    """The Markdown of a bench run (bench/results.md, and docs/performance.md between the bench markers)."""
    s = results["summary"]
    setup = results["setup"]
    lines = [
        _para(
            f"Measured {results['generated_at']} at commit `{results['git']['commit'][:12]}`"
            + (" (with uncommitted changes)" if results["git"]["dirty"] else "")
            + f", {setup['cpus']} CPUs, Python {setup['python']}, gunicorn workers × threads "
            f"{setup['gunicorn_workers']} × {setup['gunicorn_threads']}, load generator "
            f"{setup['generator_processes']} processes; {results['duration_s']:.0f} s in all. Other processes "
            f"on the machine used {_num(s['other_load_mean_cores'], 2)} cores on average during the load runs "
            f"(at most {_num(s['other_load_max_cores'], 2)}): where that is high, the figures are pessimistic."
            + _speed(results.get("machine_speed_ms"))
        ),
        "",
        "### Goals",
        "",
    ]
    lines += _table(
        ["Goal", "Target", "Measured", "Met"],
        [[g["goal"], g["target"], g["shown"], _met(g["met"])] for g in results["goals"]],
        "llll",
    )
    lines += [
        "",
        "### Closed loop (each connection sends its next request when the previous one is answered)",
        "",
    ]
    rows = []
    for r in results["runs"]:
        if r["mode"] != "closed":
            continue
        lat = r["latency_ms"]
        rows.append(
            [
                PATH_LABELS.get(r["target"], r["target"]),
                str(r["concurrency"]),
                _num(r["throughput_rps"]),
                _num(lat["p50"], 2),
                _num(lat["p95"], 2),
                _num(lat["p99"], 2),
                str(r["errors"]),
                _num(r["generator_cores"], 2),
                _num(r["other_busy_cores"], 2),
            ]
        )
    lines += _table(
        [
            "Path",
            "Connections",
            "Throughput (req/s)",
            "p50 (ms)",
            "p95 (ms)",
            "p99 (ms)",
            "Errors",
            "Generator CPU (cores)",
            "Other load (cores)",
        ],
        rows,
    )
    open_runs = [r for r in results["runs"] if r["mode"] == "open"]
    if open_runs:
        lines += ["", "### Open loop (fixed arrival rate; latency counted from each request's scheduled time)", ""]
        lines += _table(
            ["Path", "Rate asked (req/s)", "Achieved (req/s)", "p50 (ms)", "p95 (ms)", "p99 (ms)", "Errors", "Late"],
            [
                [
                    PATH_LABELS.get(r["target"], r["target"]),
                    _num(r["target_rate_rps"]),
                    _num(r["throughput_rps"]),
                    _num(r["latency_ms"]["p50"], 2),
                    _num(r["latency_ms"]["p95"], 2),
                    _num(r["latency_ms"]["p99"], 2),
                    str(r["errors"]),
                    str(r["late_starts"]),
                ]
                for r in open_runs
            ],
        )
    lines += [
        "",
        "### Memory and CPU per process",
        "",
        _para(
            "Peak RSS over the whole run (process and its workers), and the CPU each used during the dispatch run at "
            f"{s['dispatch_max_at_concurrency']} connections (the busiest)."
        ),
        "",
    ]
    busiest = next(
        r
        for r in results["runs"]
        if r["target"] == "dispatch" and r["mode"] == "closed" and r["concurrency"] == s["dispatch_max_at_concurrency"]
    )
    lines += _table(
        ["Process", "Peak RSS (MiB)", "CPU at max dispatch (cores)", "CPU per dispatch (ms)"],
        [
            [
                PROCESS_LABELS.get(name, name),
                _num(peak),
                _num(busiest["cpu_cores"].get(name), 2),
                _num(busiest.get("cpu_ms_per_request", {}).get(name), 2),
            ]
            for name, peak in results["peak_rss_mib"].items()
        ],
    )
    lines += render_cost(s.get("cost"))
    lines += render_breakdown(results.get("breakdown"))
    lines += render_mcp(results.get("mcp"))
    lines += render_micro(results.get("micro", {}))
    return "\n".join(lines) + "\n"


def render_cost(cost: dict[str, Any] | None) -> list[str]:
    if not cost:
        return []
    on, off = cost["tracing_on"], cost.get("tracing_off") or {}
    lines = [
        "",
        "### Cost per call (CPU per dispatch, tracing on and off)",
        "",
        _para(
            f"Medians of the repeated dispatch runs at {cost['concurrency']} connections on two fresh stacks started "
            "for them, measured in alternation: tracing on (every span recorded and exported to the stack's trace "
            "files) and tracing off (`OTEL_SDK_DISABLED=true`). The governance handler is measured in "
            "the bench's process (its boto3 calls included), so the Lambda API's HTTP serving is the rest of that "
            "process; the emulator is not the product's."
        ),
        "",
    ]

    def row(label: str, a: float | None, b: float | None) -> list[str]:
        diff = None if a is None or b is None else a - b
        return [label, _num(a, 2), _num(b, 2), "" if diff is None else _signed(diff)]

    rows = [
        row("Orbit (gunicorn)", on.get("orbit"), off.get("orbit")),
        row("Axon (gunicorn)", on.get("axon"), off.get("axon")),
        row("Governance: the Lambda API process", on.get("governance"), off.get("governance")),
        row("… of which the handler (in process, boto3 included)", cost.get("handler_on_ms"),
            cost.get("handler_off_ms")),
        row("… of which the Lambda API's HTTP serving (the rest)", cost.get("lambda_api_serving_ms"), None),
        row("**The product** (Orbit + Governance + Axon)", cost.get("tracing_on_product_ms"),
            cost.get("tracing_off_product_ms")),
        row("AWS emulator (moto): not the product's", on.get("emulator"), off.get("emulator")),
        row("… its work per decision for the handler in process", cost.get("handler_emulator_ms"), None),
    ]  # fmt: skip
    lines += _table(["Process", "Tracing on (ms)", "Tracing off (ms)", "On − off (ms)"], rows)
    floor = cost.get("hello_floor")
    if floor:
        lines += [
            "",
            _para(
                f"The floor under Orbit's and Axon's figures: hello-world under the same gunicorn, in an open loop at "
                f"the dispatch runs' rate ({_num(floor['rate_rps'])} req/s, {cost['concurrency']} connections), "
                f"costs {_num(floor['cpu_ms_per_request'], 2)} ms of CPU per request: what one Python hop costs at "
                "this load before it does any work of its own."
            ),
        ]
    aws = cost.get("aws")
    if aws:
        lines += [
            "",
            _para(
                "Estimated dispatch p50 in AWS (the breakdown's medians below, with the emulator and the local Lambda "
                "hop replaced by typical AWS figures; sources in docs/performance.md):"
            ),
            "",
        ]
        lines += _table(
            ["Part", "ms"],
            [
                ["Client, Orbit and Axon (local dispatch p50 − local Governance invoke p50)",
                 _num(aws["outside_governance_ms"], 2)],
                ["Lambda Invoke round trip in AWS (assumed, `BENCH_AWS_LAMBDA_INVOKE_MS`)",
                 _num(aws["lambda_invoke_ms"], 2)],
                ["The handler's own CPU (measured in process)", _num(aws["handler_cpu_ms"], 2)],
                ["One DynamoDB round trip (counters and decision log concurrent; `BENCH_AWS_DYNAMODB_MS`)",
                 _num(aws["dynamodb_ms"], 2)],
                ["**Estimated dispatch p50 in AWS**", _num(aws["dispatch_p50_ms"], 2)],
            ],
        )  # fmt: skip
    return lines


BREAKDOWN_LEGS = (
    ("dispatch_ms", "Full dispatch (client → Orbit → Governance → Axon)"),
    ("axon_get_reason_ms", "Axon GET /reason heartbeat, signed (direct-Axon baseline)"),
    ("axon_post_reason_ms", "Axon POST /reason with a receipt, signed"),
    ("governance_invoke_ms", "Governance through lambda.invoke (boto3, as Orbit calls it)"),
    ("governance_handler_ms", "… of which the handler's decision_time_ms"),
    ("lambda_hop_ms", "… of which the Lambda hop (invoke − handler)"),
)


def render_mcp(mcp: dict[str, Any] | None) -> list[str]:
    """tools/call through Orbit's MCP gateway against the same call straight to the upstream (bench.mcp)."""
    if not mcp:
        return []
    lines = [
        "",
        f"### MCP tools/call: through Orbit vs straight to the upstream ({mcp['tool']}, protocol {mcp['protocol']}, "
        f"{mcp['seconds']:g} s per run)",
        "",
    ]
    processes = ["orbit", "governance", "upstream", "emulator"]
    return lines + _table(
        ["Path", "Clients", "Calls/s", "p50 (ms)", "p99 (ms)", *[f"CPU ms/call {p}" for p in processes]],
        [
            [
                run["mode"],
                str(run["threads"]),
                _num(run["throughput_rps"]),
                _num(run["latency_ms"]["p50"], 2),
                _num(run["latency_ms"]["p99"], 2),
                *[_num(run["cpu_ms_per_call"].get(p), 2) for p in processes],
            ]
            for run in mcp["runs"]
        ],
    )


def render_breakdown(legs: dict[str, Any] | None) -> list[str]:
    if not legs:
        return []
    lines = [
        "",
        f"### Where a dispatch's time goes (one request at a time, {legs['count']} rounds, same conditions)",
        "",
    ]
    lines += _table(
        ["Leg", "p50 (ms)", "p99 (ms)"],
        [
            [label, _num(legs[key]["p50"], 2), _num(legs[key]["p99"], 2)]
            for key, label in BREAKDOWN_LEGS
            if legs.get(key, {}).get("count")
        ],
    )
    lines += [""]
    lines += _table(
        ["Part of the zero-trust overhead (medians)", "ms", "Share"],
        [
            [p["part"], _num(p["ms"], 2), "–" if p["share"] is None else f"{p['share']:.0%}"]
            for p in legs.get("split", [])
        ],
    )
    return lines


def render_micro(micro: dict[str, Any]) -> list[str]:
    if not micro:
        return []
    lines = ["", "### Micro-benchmarks (in process; wall-clock, CPU time in brackets)", ""]
    rows = []

    def us(label: str, dist: dict[str, Any]) -> None:
        wall, cpu = dist["wall"], dist["cpu"]
        rows.append(
            [
                label,
                f"{_num(wall['p50'])} µs ({_num(cpu['p50'])})",
                f"{_num(wall['p99'])} µs ({_num(cpu['p99'])})",
            ]
        )

    def ms(label: str, dist: dict[str, Any]) -> None:
        wall, cpu = dist["wall"], dist["cpu"]
        rows.append(
            [
                label,
                f"{_num(wall['p50'], 2)} ms ({_num(cpu['p50'], 2)})",
                f"{_num(wall['p99'], 2)} ms ({_num(cpu['p99'], 2)})",
            ]
        )

    if "sigv4_verify" in micro:
        us("SigV4Verifier.verify, 1 KB body", micro["sigv4_verify"]["us"])
    sig = micro.get("dispatch_signatures")
    if sig:
        us("Orbit verifies the client's signature", sig["orbit_verify_client_us"])
        us("Orbit signs its call to Axon (botocore)", sig["orbit_sign_for_axon_us"])
        us("Axon verifies Orbit's signature", sig["axon_verify_orbit_us"])
        us("The two signature checks of a dispatch", sig["two_signature_checks_us"])
        us("Governance signs the receipt (Ed25519)", sig["governance_issue_receipt_us"])
        us("Axon verifies the receipt", sig["axon_verify_receipt_us"])
        us("All signature work of a dispatch", sig["all_signature_work_us"])
    gov = micro.get("governance", {})
    for size in ("10", "100", "1000"):
        entry = gov.get(size)
        if not entry:
            continue
        mix, unsliced = entry["mix"], entry["unsliced"]
        us(
            f"Cedar evaluate, {int(size):,} policies ({mix['policies_in_slice']} in the slice)",
            mix["evaluate_us"],
        )
        us(f"Cedar evaluate, {int(size):,} policies, none sliceable (worst case)", unsliced["evaluate_us"])
        if "evaluate_and_rate_limit_ms" in mix:
            ms(f"Cedar evaluate + RateLimiter.check, {int(size):,} policies", mix["evaluate_and_rate_limit_ms"])
    if "rate_limit_check_ms" in gov:
        ms("RateLimiter.check alone (3 DynamoDB counters, emulator)", gov["rate_limit_check_ms"])
    if "read_config_ms" in gov:
        ms("PolicyStore.read_config (1 DynamoDB read, emulator)", gov["read_config_ms"])
    lines += _table(["What", "p50", "p99"], rows)
    return lines


def render_soak(soak: dict[str, Any]) -> str:
    goal = soak["goal"]
    lines = [
        _para(
            f"Measured {soak['generated_at']} at commit `{soak['git']['commit'][:12]}`"
            + (" (with uncommitted changes)" if soak["git"]["dirty"] else "")
            + f": {soak['load']['description']}, {soak['seconds']:.0f} s, memory sampled every "
            f"{soak['sample_seconds']:g} s; steady state from {soak['warmup_seconds']:g} s on; Orbit and Axon with a "
            f"{soak.get('replay_window_seconds', 300)} s clock-skew (replay) window."
        ),
        "",
        _para(f"Goal: {goal['goal']} {goal['target']}: measured {goal['shown']}, met: {_met(goal['met'])}."),
        "",
    ]
    growing = soak.get("still_growing") or []
    if growing:
        names = ", ".join(PROCESS_LABELS.get(n, n) for n in growing)
        lines += [
            _para(
                f"**Still growing at the end**: {names}: at its steady-state trend it would pass "
                f"{GOALS['soak_memory_growth']:.0%} growth within an hour of this load (see the trend column)."
            ),
            "",
        ]
    per_request = soak.get("kib_per_1000_requests", {})
    lines += _table(
        [
            "Process",
            "RSS at steady start (MiB)",
            "RSS at end (MiB)",
            "Growth",
            "Peak (MiB)",
            "Trend (MiB/min)",
            "Kept per 1,000 requests (KiB)",
        ],
        [
            [
                PROCESS_LABELS.get(name, name),
                _num(g["start_mib"]),
                _num(g["end_mib"]),
                f"{g['growth']:+.1%}",
                _num(g["peak_mib"]),
                _signed(g.get("trend_mib_per_min")),
                _signed(per_request.get(name)),
            ]
            for name, g in soak["growth"].items()
        ],
    )
    lines += [
        "",
        _para(
            "The trend is the least-squares slope of the RSS samples over the steady state: a process that keeps "
            "something for every request grows along it for as long as the load lasts, however short the soak."
        ),
        "",
        "Load over the soak, per interval:",
        "",
    ]
    lines += _table(
        ["From (s)", "Throughput (req/s)", "p50 (ms)", "p99 (ms)", "Errors", "Other load (cores)"],
        [
            [
                _num(c["offset_s"]),
                _num(c["throughput_rps"]),
                _num(c["latency_ms"]["p50"], 2),
                _num(c["latency_ms"]["p99"], 2),
                str(c["errors"]),
                _num(c.get("other_busy_cores"), 2),
            ]
            for c in soak["chunks"]
        ],
    )
    return "\n".join(lines) + "\n"


# --- docs/performance.md ----------------------------------------------------------------------------------


def section(text: str, markers: tuple[str, str]) -> str | None:
    """The text between a pair of markers (without the markers' own lines), or None."""
    pattern = re.escape(markers[0]) + r"\n(.*?)" + re.escape(markers[1])
    match = re.search(pattern, text, re.S)
    return match.group(1) if match else None


def replace_section(text: str, markers: tuple[str, str], body: str) -> str:
    if section(text, markers) is None:
        raise ValueError(f"{markers[0]} ... {markers[1]} not found")
    pattern = re.escape(markers[0]) + r"\n.*?" + re.escape(markers[1])
    return re.sub(pattern, lambda _: f"{markers[0]}\n{body}{markers[1]}", text, count=1, flags=re.S)


def load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def update_docs(path: Path = PERFORMANCE_MD) -> bool:
    """Rewrite the generated sections of docs/performance.md from the JSON files; True when it changed."""
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    updated = text
    results = load(RESULTS_JSON)
    if results is not None:
        updated = replace_section(updated, BENCH_MARKERS, render_results(results))
    soak = load(SOAK_JSON)
    if soak is not None:
        updated = replace_section(updated, SOAK_MARKERS, render_soak(soak))
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        return True
    return False


def main() -> None:
    """Re-render bench/results.md and the tables of docs/performance.md from the JSON files."""
    results = load(RESULTS_JSON)
    if results is not None:
        RESULTS_MD.write_text(render_results(results), encoding="utf-8")
    print("docs/performance.md", "updated" if update_docs() else "unchanged")


if __name__ == "__main__":
    main()
