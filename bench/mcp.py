"""The MCP bench: a `tools/call` through Orbit's gateway (SigV4, Governance's decision, receipt, forwarding) against
the same call sent straight to the upstream MCP server, with latency and CPU per call of every process.

The upstream is bench.mcp_upstream (the official SDK's server, stateless, JSON answers) in its own process; it is
registered as target `bench` with its one tool, and a policy lets the bench's principal call it. Each mode runs a
closed loop of `threads` clients, each on one keep-alive connection, for `seconds`; CPU is the difference of the
processes' CPU times over the run (user + system), divided by the calls answered.
"""

from __future__ import annotations

import http.client
import itertools
import json
import subprocess
import sys
import threading
import time
from typing import Any

from agent_runtime.sigv4 import Signer
from bench.procs import Group, pid_group, port_group
from bench.stack import REGION, BenchError, BenchStack, free_ports, log
from bench.stats import summarize

TARGET = "bench"
TOOL = f"{TARGET}___lookup"
POLICY_ID = "bench-mcp-lookup"
_SEQUENCE = itertools.count(1)
PROTOCOL = "2025-06-18"  # what most MCP clients speak today; Orbit and the SDK server both answer it statelessly


def start_upstream(stack: BenchStack) -> tuple[subprocess.Popen, int]:
    (port,) = free_ports(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.mcp_upstream", str(port)],
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=open(stack.state_dir / "logs" / "mcp-upstream.log", "ab"),  # noqa: SIM115 (the child owns it)
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _post(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/mcp", _body("ping", 0), {})
            return process, port
        except (OSError, BenchError):
            time.sleep(0.1)
    process.kill()
    raise BenchError("the bench's upstream MCP server did not start")


def register(stack: BenchStack, principal: str, upstream_url: str) -> None:
    """The target and its tools as `agentctl tools add` stores them, and a policy that permits the bench."""
    import requests

    from agent_runtime import aws
    from agent_runtime.mcp_client import McpUpstream
    from agent_runtime.names import Names
    from agent_runtime.tools import Target, Tool, ToolStore
    from governance.policies import parse_policies
    from governance.store import CONFIG_REFRESH_SECONDS, PolicyStore

    names = Names(stack.project)
    store = ToolStore(aws.client("dynamodb"), names.tools_table)
    store.put_target(Target(TARGET, upstream_url), replace=True)
    listing = McpUpstream(upstream_url, http=requests.Session(), timeout_seconds=10).list_tools()
    tools = [Tool(TARGET, t["name"], t.get("description", ""), t["inputSchema"], {}) for t in listing]
    store.publish_tools(store.target(TARGET), tools)
    text = f'@id("{POLICY_ID}")\npermit(principal == Client::"{principal}", action == Action::"{TOOL}", resource);'
    PolicyStore(aws.client("dynamodb"), names.policies_table).commit(parse_policies(text))
    time.sleep(CONFIG_REFRESH_SECONDS + 0.2)  # every warm Governance instance has the policy


def _body(method: str, seq: int, tool: str | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": seq, "method": method}
    if tool:
        message["params"] = {"name": tool, "arguments": {"key": f"k{seq}", "count": 2}}
    return json.dumps(message, separators=(",", ":")).encode()


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    conn.request(
        "POST",
        path,
        body,
        {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": PROTOCOL,
            **headers,
        },
    )
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise BenchError(f"tools/call answered HTTP {response.status}: {payload[:300]!r}")
    return json.loads(payload)


def _loop(port: int, path: str, signer: Signer | None, tool: str, stop: float, out: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < stop:
        seq = next(_SEQUENCE)  # every request differs: Orbit refuses a signature it has seen (replay)
        body = _body("tools/call", seq, tool)
        headers = signer.sign("POST", f"127.0.0.1:{port}", path, body) if signer else {}
        started = time.perf_counter()
        answer = _post(conn, path, body, headers)
        elapsed = time.perf_counter() - started
        result = answer.get("result") or {}
        if result.get("isError") or "content" not in result:
            raise BenchError(f"tools/call failed: {json.dumps(answer)[:300]}")
        out.append(elapsed)
    conn.close()


def _closed_loop(port: int, signer: Signer | None, tool: str, threads: int, seconds: float, groups: list[Group]):
    for group in groups:
        group.refresh()
    before = {g.name: g.cpu_seconds() for g in groups}
    samples: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        try:
            _loop(port, "/mcp", signer, tool, stop, samples[index])
        except BaseException as exc:  # reported after the run, not lost in a thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.monotonic() - started
    if errors:
        raise BenchError(f"the MCP bench failed: {errors[0]}")
    latencies = [s for per_thread in samples for s in per_thread]
    calls = len(latencies)
    cpu = {g.name: g.cpu_seconds() - before[g.name] for g in groups}
    return {
        "calls": calls,
        "throughput_rps": round(calls / wall, 1),
        "latency_ms": summarize(latencies),
        "cpu_ms_per_call": {name: round(seconds_ / calls * 1000, 3) for name, seconds_ in cpu.items()} if calls else {},
    }


def measure(stack: BenchStack, client: Any, seconds: float = 8.0, threads: tuple[int, ...] = (1, 4)) -> dict[str, Any]:
    """tools/call through Orbit and straight to the upstream, at each thread count; the upstream is stopped after."""
    upstream, port = start_upstream(stack)
    try:
        register(stack, client.principal, f"http://127.0.0.1:{port}/mcp")
        signer = Signer(client.access_key_id, client.secret_access_key, "execute-api", REGION)
        groups = [
            port_group("orbit", stack.ports["orbit"]),
            port_group("governance", stack.ports["governance"]),
            port_group("emulator", stack.ports["emulator"]),
            pid_group("upstream", lambda: [upstream.pid], recursive=False),
        ]
        runs = []
        for count in threads:
            for mode, target_port, call_signer, tool in (
                ("direct", port, None, "lookup"),
                ("orbit", stack.ports["orbit"], signer, TOOL),
            ):
                _closed_loop(target_port, call_signer, tool, count, 1.0, groups)  # warm-up
                run = _closed_loop(target_port, call_signer, tool, count, seconds, groups)
                runs.append({"mode": mode, "threads": count, **run})
                lat = run["latency_ms"]
                log(
                    f"mcp tools/call {mode:6} x{count}: {run['throughput_rps']:7.1f} calls/s  p50 {lat['p50']} ms  "
                    f"p99 {lat['p99']} ms  CPU ms/call {run['cpu_ms_per_call']}"
                )
        return {"tool": TOOL, "protocol": PROTOCOL, "seconds": seconds, "runs": runs}
    finally:
        upstream.terminate()
        try:
            upstream.wait(timeout=10)
        except subprocess.TimeoutExpired:
            upstream.kill()


def main() -> None:
    """`python -m bench.mcp`: this phase alone, on a stack of its own (make bench runs it as part of the whole)."""
    from bench.run import prepare

    with BenchStack() as stack:
        stack.up()
        client, _ = prepare(stack)
        print(json.dumps(measure(stack, client), indent=2))


if __name__ == "__main__":
    main()
