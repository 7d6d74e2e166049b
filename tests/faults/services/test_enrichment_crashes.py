"""kill -9 of enrichment instances while orders flow: stock is still reserved exactly once."""

from __future__ import annotations

import random
import threading
import time

import pytest

from orderstream.config import Settings
from orderstream.ops.audit import run_audit
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.load import LoadReport, LoadSpec, build_orders, load_direct
from orderstream.ops.seed import seed_catalog

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


def _assert_audit_passes(settings: Settings) -> None:
    results = run_audit(settings, timeout_s=120)
    assert all(r.ok for r in results), "\n".join(f"{r.name}: {r.detail}" for r in results)


def test_three_kill_9_during_100k_orders(
    harness: PipelineHarness, pipeline_settings: Settings
) -> None:
    seed_catalog(pipeline_settings, PRODUCTS, 3000)
    instance = harness.start_enrichment()
    loader, reports = _load_in_background(pipeline_settings, 100_000, 5_000, "crash", 3)
    rng = random.Random(5)
    for _ in range(3):
        time.sleep(rng.uniform(2.0, 5.0))
        instance.kill()
        assert not instance.alive()
        instance.restart()
    loader.join(120)
    assert reports and reports[0].accepted == 100_000
    _assert_audit_passes(pipeline_settings)


def test_two_instances_one_killed_the_other_takes_over(
    harness: PipelineHarness, pipeline_settings: Settings
) -> None:
    seed_catalog(pipeline_settings, PRODUCTS, 1000)
    first = harness.start_enrichment("a")
    second = harness.start_enrichment("b")
    loader, reports = _load_in_background(pipeline_settings, 20_000, 4_000, "pair", 4)
    time.sleep(2.0)
    first.kill()
    loader.join(60)
    assert reports and reports[0].accepted == 20_000
    assert second.alive()
    _assert_audit_passes(pipeline_settings)
