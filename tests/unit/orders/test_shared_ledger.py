"""The workers' shared ledger keeps IdempotencyLedger's rules; one claim wins across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orderstream.services.orders.idempotency import IdempotencyLedger, Ledger, Verdict
from orderstream.services.orders.shared_ledger import SharedLedger


@pytest.fixture(params=["process", "shared"])
def make_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    def make(window_s: float = 24 * 3600.0, max_entries: int = 1_000_000) -> Ledger:
        if request.param == "process":
            return IdempotencyLedger(window_s=window_s, max_entries=max_entries)
        return SharedLedger(tmp_path / "ledger", window_s=window_s, max_entries=max_entries,
                            sweep_every=1)  # fmt: skip

    return make


def test_a_retry_reuses_the_first_timestamp_then_replays_once_written(make_ledger) -> None:  # type: ignore[no-untyped-def]
    ledger = make_ledger()
    first = ledger.claim("o-1", "d1", now_ms=1_000)
    assert (first.verdict, first.timestamp_ms) == (Verdict.PUBLISH, 1_000)
    retry = ledger.claim("o-1", "d1", now_ms=5_000)
    assert (retry.verdict, retry.timestamp_ms) == (Verdict.PUBLISH, 1_000)
    assert not ledger.is_written("o-1")
    ledger.written("o-1", "d1", 1_000)
    assert ledger.claim("o-1", "d1", now_ms=6_000).verdict is Verdict.WRITTEN
    assert ledger.is_written("o-1")
    conflict = ledger.claim("o-1", "d2", now_ms=7_000)
    assert (conflict.verdict, conflict.known_digest) == (Verdict.CONFLICT, "d1")


def test_what_the_topic_holds_wins_over_an_attempt_in_doubt(make_ledger) -> None:  # type: ignore[no-untyped-def]
    ledger = make_ledger()
    ledger.claim("o-1", "mine", now_ms=2_000)
    ledger.written("o-1", "theirs", 1_500)  # another instance wrote it first
    assert ledger.claim("o-1", "mine", now_ms=3_000).verdict is Verdict.CONFLICT
    same = ledger.claim("o-1", "theirs", now_ms=3_000)
    assert (same.verdict, same.timestamp_ms) == (Verdict.WRITTEN, 1_500)


def test_keys_are_forgotten_after_the_window_or_past_the_bound(make_ledger) -> None:  # type: ignore[no-untyped-def]
    ledger = make_ledger(window_s=10, max_entries=3)
    ledger.claim("o-1", "d", now_ms=0)
    assert ledger.claim("o-1", "other", now_ms=10_001).verdict is Verdict.PUBLISH  # a new order
    for i in range(2, 6):
        ledger.claim(f"o-{i}", "d", now_ms=10_002 + i)
    assert len(ledger) == 3
    assert ledger.claim("o-2", "x", now_ms=10_010).verdict is Verdict.PUBLISH  # evicted


CLAIM_ALL = """
import json, sys
from pathlib import Path
from orderstream.services.orders.shared_ledger import SharedLedger
ledger = SharedLedger(Path(sys.argv[1]))
sys.stdin.readline()  # the go: both processes claim at once
verdicts = [ledger.claim(f"o-{i}", sys.argv[2], now_ms=1_000).verdict.value for i in range(2000)]
print(json.dumps(verdicts))
"""


def test_two_processes_claiming_the_same_keys_at_once_agree_on_one_order(tmp_path: Path) -> None:
    """Each key's first claim wins: the other process sees it (a conflict for another order)."""
    path = str(tmp_path / "ledger")
    argv = [sys.executable, "-c", CLAIM_ALL, path]
    procs = [
        subprocess.Popen([*argv, d], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for d in "ab"
    ]
    try:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        a, b = (json.loads(proc.communicate(timeout=60)[0]) for proc in procs)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    for mine, theirs in zip(a, b, strict=True):
        assert sorted((mine, theirs)) == ["conflict", "publish"]
    assert len(SharedLedger(tmp_path / "ledger")) == 2_000
