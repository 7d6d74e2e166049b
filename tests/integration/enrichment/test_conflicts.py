"""Repeated orderIds on a real broker: an exact repeat (a retry, stamped anew) is dropped, a
repeat with another productId goes to ``orders.dlq`` with its reason, and the audit passes."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from tests.integration.enrichment.support import produce_orders, wait_for_enriched

from orderstream.config import Settings
from orderstream.ops.audit import run_audit
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.seed import product_id, seed_catalog
from orderstream.ops.topics_reader import RawRecord, read_topic
from orderstream.runtime import H_ERROR_CLASS, H_ERROR_MESSAGE
from orderstream.serde import OrderCreated
from orderstream.services.enrichment.rules import decode_int, stock_key
from orderstream.services.topics import STOCK_CHANGELOG

pytestmark = pytest.mark.integration

FIRST = 1_000  # products p-01000.. of this test's own
ORDERS = 500


def test_conflicting_repeats_are_dead_lettered_and_exact_ones_dropped(
    harness: PipelineHarness, settings: Settings
) -> None:
    seed_catalog(settings, 2, 10_000, first=FIRST)
    a, b = product_id(FIRST), product_id(FIRST + 1)
    before = len(read_topic(settings, "orders.dlq"))
    harness.start_enrichment()
    now = int(time.time() * 1000)
    firsts = [OrderCreated(f"dup-{i}", "c1", a, 1, 1, "EUR", now) for i in range(ORDERS)]
    retries = [OrderCreated(f"dup-{i}", "c1", a, 1, 1, "EUR", now + 5) for i in range(ORDERS)]
    conflicts = [OrderCreated(f"dup-{i}", "c1", b, 1, 1, "EUR", now + 9) for i in range(ORDERS)]
    produce_orders(settings, [*firsts, *retries, *conflicts])

    enriched = wait_for_enriched(settings, {o.order_id for o in firsts})
    dead = _wait_for_dlq(settings, before + ORDERS)[before:]
    assert Counter(r.key for r in dead) == {o.order_id.encode(): 1 for o in conflicts}
    assert {dict(r.headers)[H_ERROR_CLASS] for r in dead} == {b"ConflictingOrder"}
    assert b"product " + b.encode() in dict(dead[0].headers)[H_ERROR_MESSAGE]

    # The audit has read every committed EnrichedOrder: none for the repeats, none doubled.
    results = run_audit(settings, timeout_s=60)
    assert all(r.ok for r in results), results
    assert sorted(e.order_id for e in enriched) == sorted(o.order_id for o in firsts)
    assert {(e.product_id, e.status) for e in enriched} == {(a, "RESERVED")}
    stock = {r.key: r.value for r in read_topic(settings, STOCK_CHANGELOG) if r.value}
    assert decode_int(stock[stock_key(a)]) == 10_000 - ORDERS
    assert decode_int(stock[stock_key(b)]) == 10_000  # the conflicting orders took nothing


def _wait_for_dlq(settings: Settings, want: int, timeout_s: float = 120) -> list[RawRecord]:
    deadline = time.monotonic() + timeout_s
    records = read_topic(settings, "orders.dlq")
    while len(records) < want and time.monotonic() < deadline:
        time.sleep(0.5)
        records = read_topic(settings, "orders.dlq")
    return records
