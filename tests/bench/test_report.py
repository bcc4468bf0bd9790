"""docs/performance.md says what bench/results.json and bench/soak.json say; the goals follow the figures."""

from __future__ import annotations

import copy

import pytest

from bench import report
from bench.soak import growth_of, still_growing


def _require(path):
    data = report.load(path)
    if data is None:
        pytest.skip(f"{path.relative_to(report.REPO_ROOT)} is not there (run make bench / make soak)")
    return data


def test_performance_md_quotes_results_json():
    results = _require(report.RESULTS_JSON)
    text = report.PERFORMANCE_MD.read_text(encoding="utf-8")
    assert report.section(text, report.BENCH_MARKERS) == report.render_results(results), (
        "docs/performance.md is out of date with bench/results.json: run `python -m bench.report`"
    )


def test_results_md_is_the_same_table():
    results = _require(report.RESULTS_JSON)
    assert report.RESULTS_MD.read_text(encoding="utf-8") == report.render_results(results)


def test_results_json_goals_follow_its_figures():
    results = _require(report.RESULTS_JSON)
    assert results["summary"] == report.summarize_results(results)
    assert results["goals"] == report.evaluate_goals(results)


def test_performance_md_quotes_soak_json():
    soak = _require(report.SOAK_JSON)
    text = report.PERFORMANCE_MD.read_text(encoding="utf-8")
    assert report.section(text, report.SOAK_MARKERS) == report.render_soak(soak)
    assert soak["goal"] == report.soak_goal(soak)


# --- the logic, on synthetic results (no bench run needed) -------------------------------------------------


def _run(target, concurrency, rps, p50, *, mode="closed", errors=0, p99=None):
    return {
        "target": target,
        "mode": mode,
        "concurrency": concurrency,
        "throughput_rps": rps,
        "latency_ms": {"count": 100, "mean": p50, "p50": p50, "p95": p50, "p99": p99 or p50 * 2, "max": p50 * 3},
        "errors": errors,
        "error_kinds": {},
        "generator_cores": 0.1,
        "other_busy_cores": 0.0,
        "late_starts": 0,
        "cpu_cores": {"orbit": 0.5},
        "cpu_ms_per_request": {"orbit": 5.0},
        **({"target_rate_rps": rps} if mode == "open" else {}),
    }


def _dist(p50: float, p99: float, cpu_p99: float | None = None) -> dict:
    return {"wall": {"p50": p50, "p99": p99}, "cpu": {"p50": p50, "p99": p99 if cpu_p99 is None else cpu_p99}}


SYNTHETIC = {
    "generated_at": "2026-01-01 00:00 UTC",
    "git": {"commit": "0123456789abcdef", "dirty": False},
    "setup": {"cpus": 2, "python": "3.11", "gunicorn_workers": 1, "gunicorn_threads": 16, "generator_processes": 2},
    "duration_s": 100.0,
    "runs": [
        _run("hello", 1, 1000.0, 0.5),
        _run("axon", 1, 500.0, 1.0),
        _run("dispatch", 1, 100.0, 5.0),
        _run("hello", 8, 2000.0, 2.0),
        _run("axon", 8, 900.0, 4.0),
        _run("dispatch", 8, 450.0, 9.0),
        _run("dispatch", 32, 225.0, 20.0, mode="open", p99=40.0),
    ],
    "peak_rss_mib": {"orbit": 100.0},
    "micro": {
        "sigv4_verify": {"us": _dist(50.0, 80.0)},
        "governance": {
            "1000": {
                "mix": {"policies_in_slice": 101, "evaluate_us": _dist(200, 1500, cpu_p99=900)},
                "unsliced": {"policies_in_slice": 1000, "evaluate_us": _dist(1800, 2500)},
            }
        },
    },
}


def test_goals_on_synthetic_results():
    results = copy.deepcopy(SYNTHETIC)
    results["summary"] = report.summarize_results(results)
    s = results["summary"]
    assert s["dispatch_max_rps"] == 450.0
    assert s["dispatch_vs_hello"] == pytest.approx(0.225)
    assert s["zero_trust_overhead_p50_ms"] == pytest.approx(4.0)  # 5.0 - 1.0 at the lowest concurrency
    assert s["open_loop_p99_ms"] == 40.0
    goals = {g["id"]: g["met"] for g in report.evaluate_goals(results)}
    assert goals == {
        "dispatch_vs_hello": True,
        "dispatch_errors": True,
        "open_loop_p99_ms": True,
        "zero_trust_overhead_p50_ms": True,
        "sigv4_verify_p50_us": True,
        "policy_eval_p99_us_1000": True,  # judged on CPU time (900 µs), not the noisy wall-clock
    }


def test_missed_goals_are_reported_as_missed():
    results = copy.deepcopy(SYNTHETIC)
    results["runs"][2] = _run("dispatch", 1, 100.0, 12.0, errors=1)
    results["runs"][5] = _run("dispatch", 8, 150.0, 30.0)
    results["runs"][6] = _run("dispatch", 32, 75.0, 30.0, mode="open", p99=80.0)
    results["summary"] = report.summarize_results(results)
    goals = {g["id"]: g["met"] for g in report.evaluate_goals(results)}
    assert not goals["dispatch_vs_hello"]
    assert not goals["dispatch_errors"]
    assert not goals["open_loop_p99_ms"]
    assert not goals["zero_trust_overhead_p50_ms"]


def test_rendered_markdown_has_the_figures_and_replaces_only_its_section():
    results = copy.deepcopy(SYNTHETIC)
    results["summary"] = report.summarize_results(results)
    results["goals"] = report.evaluate_goals(results)
    rendered = report.render_results(results)
    assert "| full dispatch | 8 | 450 | 9.00 |" in rendered
    assert "22.5% (450 / 2,000 req/s)" in rendered
    doc = "# T\n\nbefore\n\n<!-- bench:results:start -->\nold\n<!-- bench:results:end -->\n\nafter\n"
    updated = report.replace_section(doc, report.BENCH_MARKERS, rendered)
    assert updated.startswith("# T\n\nbefore\n\n<!-- bench:results:start -->\n")
    assert updated.endswith("<!-- bench:results:end -->\n\nafter\n")
    assert report.section(updated, report.BENCH_MARKERS) == rendered


def test_soak_growth_compares_steady_start_with_end():
    start = 1000.0
    series = [
        {"t": start + t, "rss": {"orbit": 100 * report_mib(1) + t * 1024, "axon": 50 * report_mib(1)}}
        for t in range(0, 121, 5)
    ]
    growth = growth_of(series, start, warmup=20, window=15)
    assert growth["axon"]["growth"] == 0.0
    assert growth["axon"]["trend_mib_per_min"] == 0.0
    assert growth["orbit"]["trend_mib_per_min"] == pytest.approx(60 * 1024 / 2**20, abs=1e-3)  # 1 KiB/s
    assert still_growing(growth) == []  # +3.5 MiB per hour on 100 MiB
    leaky = {"orbit": {**growth["orbit"], "trend_mib_per_min": 0.5}}
    assert still_growing(leaky) == ["orbit"]  # +30 MiB per hour
    # orbit: median of 20..35 s (27.5 s) vs median of 105..120 s (112.5 s): +85 KiB on 100 MiB
    assert growth["orbit"]["growth"] == pytest.approx(85 * 1024 / (100 * 2**20 + 27.5 * 1024), abs=1e-4)
    soak = {"growth": {"orbit": {**growth["orbit"], "growth": 0.12}, "axon": growth["axon"]}}
    assert report.soak_goal(soak)["met"] is False


def report_mib(n: int) -> int:
    return n * 2**20


def _cost_runs(orbit: float, axon: float, governance: float) -> list[dict]:
    return [
        {"throughput_rps": 50.0, "errors": 0, "other_busy_cores": 0.0,
         "cpu_ms_per_request": {"orbit": orbit + d, "axon": axon + d, "governance": governance + d, "emulator": 9.0}}
        for d in (0.0, 0.5, -0.1)  # the medians are orbit, axon, governance
    ]  # fmt: skip


def test_cost_per_call_medians_goals_and_aws_estimate():
    results = copy.deepcopy(SYNTHETIC)
    results["cost"] = {
        "concurrency": 8,
        "tracing_on": _cost_runs(1.4, 0.9, 4.0),
        "tracing_off": _cost_runs(1.3, 0.85, 3.9),
        "hello_floor": {"rate_rps": 50.0, "throughput_rps": 50.0, "errors": 0, "cpu_ms_per_request": 0.61},
        "aws": {"lambda_invoke_ms": 10.0, "dynamodb_ms": 5.0},
    }
    results["micro"]["governance_handler"] = {
        "on": {"cpu_ms": 1.2, "wall_ms": 9.0, "emulator_cpu_ms": 8.0},
        "off": {"cpu_ms": 1.0, "wall_ms": 8.5, "emulator_cpu_ms": 8.0},
    }
    results["breakdown"] = {
        "dispatch_ms": {"p50": 20.0}, "governance_invoke_ms": {"p50": 15.0}, "governance_handler_ms": {"p50": 12.0},
    }  # fmt: skip
    results["summary"] = report.summarize_results(results)
    cost = results["summary"]["cost"]
    assert cost["tracing_on"]["orbit"] == pytest.approx(1.4)
    assert cost["tracing_on_product_ms"] == pytest.approx(6.3)
    assert cost["tracing_delta_ms"] == pytest.approx(0.25)  # 6.3 - 6.05
    assert cost["lambda_api_serving_ms"] == pytest.approx(2.8)  # the process (4.0) minus the handler (1.2)
    assert cost["aws"]["dispatch_p50_ms"] == pytest.approx(5.0 + 10.0 + 1.2 + 5.0)
    goals = {g["id"]: g["met"] for g in report.evaluate_goals(results)}
    assert goals["orbit_cpu_ms"] is True
    assert goals["axon_cpu_ms"] is False  # 0.9 > 0.8
    assert goals["handler_cpu_ms"] is True
    assert goals["tracing_cpu_ms"] is False  # 0.25 > 0.2
    results["goals"] = report.evaluate_goals(results)
    del results["breakdown"]  # the synthetic legs are only what the estimate reads
    rendered = report.render_results(results)
    assert "### Cost per call" in rendered
    assert "| **Estimated dispatch p50 in AWS** | 21.20 |" in rendered
    # the floor is shown beside Orbit's and Axon's goals and under the cost table
    assert "| 1.40 ms (hello-world at the same rate: 0.61 ms) |" in rendered
    assert "(50.0 req/s, 8 connections), costs 0.61 ms of CPU per request" in rendered
    assert "machine_speed" not in rendered  # not measured in this synthetic run: not shown
    results["machine_speed_ms"] = {"start": 33.8, "end": 41.0}
    assert "took 33.8 ms of CPU at the start and 41.0 ms at the end" in report.render_results(results)


def test_cost_goals_not_measured_without_the_cost_runs():
    results = copy.deepcopy(SYNTHETIC)
    results["summary"] = report.summarize_results(results)
    assert results["summary"]["cost"] is None
    assert not {"orbit_cpu_ms", "handler_cpu_ms"} & {g["id"] for g in report.evaluate_goals(results)}
