"""No order is lost to a race with its product's first restock, on a real broker.

Orders and restocks reach ``orders-by-product`` through different stage-1 tasks, so an order can
overtake its product's first restock; it must then wait for it, never be rejected OUT_OF_STOCK.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict

import pytest
from tests.integration.enrichment.support import produce_orders, wait_for_enriched

from orderstream.config import Settings
from orderstream.ops.audit import run_audit
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.load import LoadSpec, build_orders, load_direct
from orderstream.ops.seed import product_id, seed_catalog, seed_products, seed_stock
from orderstream.ops.topics_reader import read_topic
from orderstream.serde import OrderCreated
from orderstream.services.topics import STOCK_CHANGELOG

pytestmark = pytest.mark.integration


def test_a_backlog_preloaded_before_enrichment_starts_is_all_reserved(
    harness: PipelineHarness, settings: Settings
) -> None:
    """The steps of the issue: seed 100 x 100,000, load 10,000 --direct, start enrichment."""
    seed_catalog(settings, 100, 100_000)
    spec = LoadSpec(count=10_000, rate=0, products=100, direct=True, seed=5)
    orders = build_orders(spec, "race")
    assert load_direct(spec, settings, orders, lambda _n: None).accepted == 10_000
    harness.start_enrichment()

    outcomes = wait_for_enriched(settings, {o.order_id for o in orders})
    assert Counter((e.status, e.reject_reason) for e in outcomes) == {("RESERVED", None): 10_000}
    results = run_audit(settings, timeout_s=60)
    assert all(r.ok for r in results), results


def test_a_burst_before_the_stock_waits_for_it_and_is_served_in_order(
    harness: PipelineHarness, settings: Settings
) -> None:
    """Live: the catalog is there, the stock is not; 2,000 orders, then the stock arrives."""
    first, products = 2_000, 20
    seed_products(settings, products, first=first)
    harness.start_enrichment()
    rng = random.Random(3)
    now = int(time.time() * 1000)
    burst = [
        OrderCreated(
            f"burst-{i}", "c1", product_id(first + rng.randrange(products)), 1, 1, "EUR", now
        )
        for i in range(2_000)
    ]
    produce_orders(settings, burst)
    _wait_until_parked(settings, len(burst))
    seed_stock(settings, products, 10_000, first=first)

    outcomes = {e.order_id: e for e in wait_for_enriched(settings, {o.order_id for o in burst})}
    assert Counter(e.status for e in outcomes.values()) == {"RESERVED": 2_000}
    # Per product, the parked orders took one unit each, one after the other (their order is
    # that of their arrival at stage 2; the unit tests pin that down).
    stock_after: dict[str, list[int]] = defaultdict(list)
    for o in burst:
        stock_after[o.product_id].append(outcomes[o.order_id].stock_after)
    for product, seen in stock_after.items():
        assert sorted(seen, reverse=True) == list(range(9_999, 9_999 - len(seen), -1)), product
    results = run_audit(settings, timeout_s=60)
    assert all(r.ok for r in results), results


def _wait_until_parked(settings: Settings, count: int, timeout_s: float = 120) -> None:
    """The stock changelog holds one parked entry (``q:<productId>...``) per waiting order."""
    deadline = time.monotonic() + timeout_s
    parked: dict[bytes, bool] = {}
    while time.monotonic() < deadline:
        for record in read_topic(settings, STOCK_CHANGELOG):
            if record.key and record.key.startswith(b"q:p-02"):
                parked[record.key] = record.value is not None
        if sum(parked.values()) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"{sum(parked.values())} of {count} orders parked in {timeout_s:.0f} s")
