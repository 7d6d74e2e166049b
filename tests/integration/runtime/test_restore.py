"""Restore: from the snapshot (only the tail), after wiping it, and after corrupting it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from orderstream.runtime import ProcessingLoop, Processor, RuntimeConfig
from orderstream.state import snapshot_path
from orderstream.testing.aggregate import STORE, AggregateProcessor
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import (
    EosTopics,
    produce_inputs,
    verify_exactly_once,
    wait_committed,
    wait_for,
)

StartLoop = Callable[[Processor, RuntimeConfig], ProcessingLoop]


def stop_loop(loop: ProcessingLoop) -> None:
    """Stop gracefully (commit, snapshot, leave the group) and wait for it."""
    loop.stop()
    assert loop.finished.wait(60), "the loop did not stop"


def _state(loop: ProcessingLoop) -> dict[int, dict[bytes, bytes]]:
    assert loop.session is not None
    return {p: dict(s.items()) for p, s in loop.session.registry.stores[STORE].items()}


def _restart(start_loop: StartLoop, t: EosTopics, state_dir: Path) -> ProcessingLoop:
    config = RuntimeConfig(app_id=t.group, instance_id="a", state_dir=state_dir)
    loop = start_loop(AggregateProcessor(t.input, t.output, t.changelog), config)
    wait_for(lambda: loop.ready()[0], 60, "the restarted loop to be ready")
    return loop


def _restored(loop: ProcessingLoop) -> int:
    return int(loop.metrics.sample("orderstream_restored_records_total"))


def test_state_is_rebuilt_from_snapshot_changelog_or_both(
    kafka_cluster: LocalCluster, eos_topics: EosTopics, start_loop: StartLoop, tmp_path: Path
) -> None:
    bootstrap, t = kafka_cluster.bootstrap, eos_topics
    produce_inputs(bootstrap, t.input, 20_000, keys=3_000)
    first = _restart(start_loop, t, tmp_path)
    wait_committed(bootstrap, t, 20_000)
    before = _state(first)
    assert sum(len(p) for p in before.values()) > 2_900  # random keys: a few never drawn
    stop_loop(first)

    # 1. Snapshot written at shutdown: nothing to replay.
    from_snapshot = _restart(start_loop, t, tmp_path)
    assert _state(from_snapshot) == before
    assert _restored(from_snapshot) == 0
    stop_loop(from_snapshot)

    # 2. Snapshot wiped: everything comes back from the changelog.
    shutil.rmtree(tmp_path / t.group)
    from_changelog = _restart(start_loop, t, tmp_path)
    assert _state(from_changelog) == before
    assert _restored(from_changelog) > 2_900
    stop_loop(from_changelog)

    # 3. One snapshot corrupted: detected, wiped, rebuilt; the others are trusted.
    snapshot_path(tmp_path / t.group, STORE, 4).write_bytes(b"\x00garbage" * 512)
    rebuilt = _restart(start_loop, t, tmp_path)
    assert _state(rebuilt) == before
    assert 0 < _restored(rebuilt) < 20_000
    # and it keeps processing exactly
    produce_inputs(bootstrap, t.input, 5_000, keys=3_000, seed=9)
    wait_committed(bootstrap, t, 25_000)
    stop_loop(rebuilt)
    verdict = verify_exactly_once(bootstrap, t.group, t.input, t.output, t.changelog)
    assert verdict.ok, verdict.problems
