"""Replay stores: a record is used once until it expires; the stores that forget on restart say so, the others
keep their records across restarts and across the processes of a host."""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent_runtime.replay import MemoryReplayStore, SqliteReplayStore, make_replay_store
from agent_runtime.sigv4 import Credential, SignatureError, SigV4Verifier, StaticKeys
from tests.signing import sign_request, to_raw

KEY = Credential("AKARREPLAY0000000001", "replay-test-secret", "alice")
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def test_sqlite_records_survive_a_new_store_on_the_same_file(tmp_path: Path):
    path = tmp_path / "replay" / "orbit.sqlite3"
    first = SqliteReplayStore(path, clock=lambda: 1000.0)
    assert first.first_use("sigv4#abc", 1301.0)
    assert not first.first_use("sigv4#abc", 1301.0)
    restarted = SqliteReplayStore(path, clock=lambda: 1200.0)  # what a restarted process opens
    assert not restarted.first_use("sigv4#abc", 1301.0)
    assert restarted.first_use("sigv4#other", 1301.0)
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"


def test_sqlite_expired_records_may_be_used_again(tmp_path: Path):
    now = {"t": 1000.0}
    store = SqliteReplayStore(tmp_path / "r.sqlite3", clock=lambda: now["t"])
    assert store.first_use("k", 1010.0)
    now["t"] = 1010.0
    assert store.first_use("k", 1020.0)
    assert not store.first_use("k", 1020.0)


def _claim(path: str, keys: list[str], results) -> None:
    store = SqliteReplayStore(path)
    results.put([k for k in keys if store.first_use(k, 4_000_000_000.0)])


def test_sqlite_several_processes_and_threads_claim_each_key_once(tmp_path: Path):
    path = str(tmp_path / "shared.sqlite3")
    keys = [f"sigv4#{i}" for i in range(200)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_claim, args=(path, keys, results)) for _ in range(3)]
    for process in processes:
        process.start()
    store = SqliteReplayStore(path)
    local: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        won = [k for k in keys if store.first_use(k, 4_000_000_000.0)]
        with lock:
            local.extend(won)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = list(local)
    for _ in processes:
        claimed.extend(results.get(timeout=60))
    for process in processes:
        process.join(timeout=60)
    assert sorted(claimed) == sorted(keys)  # every key won exactly once across 3 processes and 4 threads


def test_the_memory_store_refuses_requests_signed_before_the_process_started():
    def verifier(started: float) -> SigV4Verifier:
        return SigV4Verifier(
            service="execute-api",
            region="us-east-1",
            keys=StaticKeys([KEY]),
            replay_guard=MemoryReplayStore(clock=lambda: started),
            clock=lambda: NOW.timestamp() + 60,
        )

    request = to_raw(sign_request("POST", "https://orbit.example.com/dispatch", b"{}", KEY, when=NOW))
    assert verifier(NOW.timestamp() - 1).verify(request).principal == "alice"
    with pytest.raises(SignatureError) as raised:  # the same capture, sent again after a restart
        verifier(NOW.timestamp() + 30).verify(replace(request))
    assert "signed before this server started" in raised.value.reason
    for restarted_at in (NOW.timestamp(), NOW.timestamp() + 0.9):  # a restart within the second it was signed in
        with pytest.raises(SignatureError) as raised:
            verifier(restarted_at).verify(replace(request))
        assert "signed before this server started" in raised.value.reason


def test_make_replay_store_names_every_kind(tmp_path: Path):
    assert isinstance(make_replay_store("sqlite", table_name="t", db_path=str(tmp_path / "x.db")), SqliteReplayStore)
    assert isinstance(make_replay_store("memory", table_name="t"), MemoryReplayStore)
    with pytest.raises(ValueError, match="memory, sqlite, dynamodb"):
        make_replay_store("redis", table_name="t")
