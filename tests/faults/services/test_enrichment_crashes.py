"""kill -9 of enrichment instances while orders flow: stock is still reserved exactly once.

Kills are timed by progress, not by the clock: each waits until enrichment has committed a given
share of the input, and the test checks that the kill landed mid-stream (some input committed,
not all of it), whatever the speed of the machine.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from orderstream.config import Settings
from orderstream.ops.audit import run_audit
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.load import LoadReport, LoadSpec, build_orders, load_direct
from orderstream.ops.seed import seed_catalog
from orderstream.services.enrichment.processor import APP_ID
from orderstream.services.topics import ORDERS

pytestmark = pytest.mark.faults

PRODUCTS = 50


def _load_in_background(
    settings: Settings, count: int, rate: float, run_id: str, seed: int
) -> tuple[threading.Thread, list[LoadReport]]:
    spec = LoadSpec(count=count, rate=rate, products=PRODUCTS, direct=True, seed=seed)
    orders = build_orders(spec, run_id)
    reports: list[LoadReport] = []
    thread = threading.Thread(
        target=lambda: reports.append(load_direct(spec, settings, orders, lambda _n: None)),
        daemon=True,
    )
    thread.start()
    return thread, reports


def _committed(settings: Settings, topic: str = ORDERS) -> int:
    """The input enrichment has committed so far: its group's offsets on ``topic``, summed."""
    # read_uncommitted: a read_committed consumer asks for stable offsets (KIP-447), which the
    # broker withholds while the killed instance's transaction is still open (until it times out
    # or the restarted instance fences it), so the read would time out right after a kill.
    conf = {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": APP_ID,
        "isolation.level": "read_uncommitted",
    }
    consumer = Consumer({**conf, "enable.auto.commit": False})  # never subscribes: no rebalance
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def _wait_progress(settings: Settings, base: int, target: int, timeout_s: float = 120.0) -> int:
    """Block until enrichment has committed ``target`` records past ``base``; returns the count."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = _committed(settings) - base
        if done >= target:
            return done
        time.sleep(0.1)
    raise AssertionError(f"enrichment committed fewer than {target} records in {timeout_s:.0f}s")


def _kill_mid_stream(
    instance: ServiceHandle, settings: Settings, base: int, target: int, total: int
) -> int:
    """kill -9 once ``target`` records are committed; asserts it landed before the end."""
    _wait_progress(settings, base, target)
    instance.kill()
    assert not instance.alive()
    at_kill = _committed(settings) - base  # a dead process commits nothing more
    assert target <= at_kill < total, f"kill landed at {at_kill} of {total}, not mid-stream"
    return at_kill


def _assert_audit_passes(settings: Settings) -> None:
    results = run_audit(settings, timeout_s=120)
    assert all(r.ok for r in results), "\n".join(f"{r.name}: {r.detail}" for r in results)


def test_three_kill_9_during_100k_orders(
    harness: PipelineHarness, pipeline_settings: Settings
) -> None:
    seed_catalog(pipeline_settings, PRODUCTS, 3000)
    instance = harness.start_enrichment()
    base = _committed(pipeline_settings)
    total = 100_000
    loader, reports = _load_in_background(pipeline_settings, total, 5_000, "crash", 3)
    kills = []
    for share in (0.15, 0.40, 0.65):
        kills.append(_kill_mid_stream(instance, pipeline_settings, base, int(total * share), total))
        instance.restart()
    assert kills == sorted(kills)
    loader.join(120)
    assert reports and reports[0].accepted == total
    _assert_audit_passes(pipeline_settings)


def test_two_instances_one_killed_the_other_takes_over(
    harness: PipelineHarness, pipeline_settings: Settings
) -> None:
    seed_catalog(pipeline_settings, PRODUCTS, 1000)
    first = harness.start_enrichment("a")
    second = harness.start_enrichment("b")
    base = _committed(pipeline_settings)
    total = 20_000
    loader, reports = _load_in_background(pipeline_settings, total, 4_000, "pair", 4)
    _kill_mid_stream(first, pipeline_settings, base, total // 4, total)
    loader.join(60)
    assert reports and reports[0].accepted == total
    assert second.alive()
    _assert_audit_passes(pipeline_settings)
