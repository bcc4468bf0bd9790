"""Cold start of the governance Lambda's handler, measured locally against the AWS emulator.

What a new Lambda instance does before its first answer, each part timed in a fresh Python process:

- import: `import governance.handler` (Settings, powertools, boto3, cedarpy, cryptography);
- runtime: `Runtime.from_settings` (two boto3 clients and the receipt-key fetch from Secrets Manager);
- first decision: the first `lambda_handler` call (config read, policy-set load and Cedar compilation, rate-limit
  counters, the receipt signature, the audit line).

The emulator (moto's server on 127.0.0.1, a free port) holds the tables, the receipt key and the default policy
set, created the way the local stack creates them. `python -X importtime` breaks the import down; the slowest
modules are printed. Not measured here: the Lambda runtime's own start and the unzip of the package (about
100-250 ms on python3.12 at 512-1024 MB, by AWS's published figures), and the network round trips to the real
DynamoDB and Secrets Manager endpoints (a few ms each inside a Region). docs/architecture.md (Timeouts) has the
what they size (Orbit's governance timeout, the provisioned concurrency).

    .venv/bin/python -m bench.cold_start [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from agent_runtime import receipts
from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from governance.policies import load_policy_path
from governance.store import PolicyStore

ROOT = Path(__file__).resolve().parents[1]
EMULATOR_KEY = "bench"  # the emulator accepts any credentials; these are not a secret
POLICIES = ROOT / "governance" / "policies" / "default"

# Runs in a fresh interpreter: nothing of the handler is imported before the clock starts.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import governance.handler as handler
t1 = time.perf_counter()
handler.runtime()
t2 = time.perf_counter()
event = {
    "principal": "quickstart", "intent": "call_reasoning", "context": {"user_id": "u1", "request_id": "r1"},
    "source_ip": "10.0.0.1", "correlation_id": "cold-start", "request_digest": "0" * 64,
}
answer = handler.lambda_handler(event, None)
t3 = time.perf_counter()
assert answer.get("allowed") is True, answer
print(json.dumps({"import_ms": (t1 - t0) * 1000, "runtime_ms": (t2 - t1) * 1000,
                  "first_decision_ms": (t3 - t2) * 1000}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare(endpoint: str, names: Names) -> None:
    """Tables, the receipt key and the default policy set, as the local stack creates them."""
    session = boto3.session.Session(
        aws_access_key_id=EMULATOR_KEY, aws_secret_access_key=EMULATOR_KEY, region_name="us-east-1"
    )
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    for definition in table_definitions(names):
        definition = {key: value for key, value in definition.items() if key != "TimeToLive"}
        dynamodb.create_table(**definition)
    private_pem, public_pem = receipts.generate_key_pair()
    sm = session.client("secretsmanager", endpoint_url=endpoint)
    sm.create_secret(Name=names.receipt_private_key_secret, SecretString=private_pem)
    sm.create_secret(Name=names.receipt_public_key_secret, SecretString=public_pem)
    PolicyStore(dynamodb, names.policies_table).commit(load_policy_path(POLICIES))


def _child_env(endpoint: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "GOVERNANCE_"))}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=EMULATOR_KEY,
        AWS_SECRET_ACCESS_KEY=EMULATOR_KEY,
        AWS_REGION="us-east-1",
        ENVIRONMENT="local",
        LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _slowest_imports(stderr: str, count: int = 8) -> list[tuple[str, float]]:
    """Packages by cumulative import time (their subtree included), from `-X importtime`, the handler itself
    left out: where the import time goes."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        name = name.strip()
        if not cumulative.strip().isdigit() or "." in name or name == "governance":
            continue
        totals[name] = max(totals.get(name, 0.0), int(cumulative) / 1000)
    return sorted(totals.items(), key=lambda item: -item[1])[:count]


def measure(runs: int) -> dict[str, Any]:
    names = Names.from_env()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request lines
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _prepare(endpoint, names)
        env = _child_env(endpoint)
        samples, breakdown = [], []
        with tempfile.TemporaryDirectory() as cwd:
            for run in range(runs):
                result = subprocess.run(  # this interpreter and a fixed script
                    [sys.executable, "-X", "importtime", "-c", CHILD],
                    env=env,
                    cwd=cwd,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                if result.returncode != 0:
                    raise SystemExit(f"cold-start run {run + 1} failed:\n{result.stderr[-2000:]}")
                samples.append(json.loads(result.stdout.strip().splitlines()[-1]))
                if not breakdown:
                    breakdown = _slowest_imports(result.stderr)
    finally:
        server.stop()
    parts = ("import_ms", "runtime_ms", "first_decision_ms")
    totals = [sum(sample[part] for part in parts) for sample in samples]
    return {
        "runs": runs,
        "median": {part: round(statistics.median(s[part] for s in samples), 1) for part in parts},
        "max": {part: round(max(s[part] for s in samples), 1) for part in parts},
        "total_ms": {"median": round(statistics.median(totals), 1), "max": round(max(totals), 1)},
        "slowest_imports_ms": [(name, round(ms, 1)) for name, ms in breakdown],
        "python": sys.version.split()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes to measure (default 5)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    result = measure(args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"governance handler cold start, {result['runs']} fresh processes (Python {result['python']}):")
    for part in ("import_ms", "runtime_ms", "first_decision_ms"):
        print(f"  {part[:-3]:<15} median {result['median'][part]:7.1f} ms   max {result['max'][part]:7.1f} ms")
    print(f"  {'total':<15} median {result['total_ms']['median']:7.1f} ms   max {result['total_ms']['max']:7.1f} ms")
    print("  slowest imports (cumulative):", ", ".join(f"{n} {ms} ms" for n, ms in result["slowest_imports_ms"]))


if __name__ == "__main__":
    main()
