"""Client retries with an Idempotency-Key are one order, even when the first try got a 503.

1,000 orders, each posted twice under the same key through ``orderstream load``'s HTTP path:
half of them first while the broker is paused (SIGSTOP), which the API answers 503, then all of
them again once it is back. There must be exactly one EnrichedOrder per key and each product's
stock must have been taken once per order.

Enrichment is stopped while the broker is paused and started again afterwards: today its
transactional producer does not recover from a pause longer than its session timeout (the abort
after UNKNOWN_MEMBER_ID hangs on the transaction coordinator), which is the runtime's to fix,
not what this test is about.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest
from tests.integration.orders.support import broker_paused, readyz, wait_until

from orderstream.config import Settings
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.load import LoadReport, LoadSpec, build_orders, load_over_http
from orderstream.ops.seed import product_id, seed_catalog
from orderstream.ops.topics_reader import read_topic
from orderstream.serde import EnrichedOrder, EventSerde, OrderCreated
from orderstream.services.orders.idempotency import order_id_for_key
from orderstream.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration

PRODUCTS = 10
STOCK = 100_000
COUNT = 1_000


def test_each_key_is_one_order_and_one_reservation_after_503s_and_retries(
    orders_env: tuple[LocalCluster, Settings], tmp_path: Path
) -> None:
    cluster, settings = orders_env
    seed_catalog(settings, PRODUCTS, STOCK)
    h = PipelineHarness(settings, tmp_path / "run")
    try:
        api = h.start_orders()
        enrichment = h.start_enrichment()
        _wait_for_stock(api)
        spec = LoadSpec(
            count=COUNT, rate=0, products=PRODUCTS, url=api.url, concurrency=8,
            idempotency_keys=True,
        )  # fmt: skip
        orders = build_orders(spec, "retries")

        assert _load(spec, orders[: COUNT // 2]).accepted == COUNT // 2
        enrichment.stop()
        with broker_paused(cluster):
            refused = _load(spec, orders[COUNT // 2 :])
            wait_until(lambda: readyz(api) == 503, 20, "/readyz did not turn 503")
        assert refused.accepted == 0
        assert refused.refusals == Counter({"HTTP 503": COUNT // 2}), refused.refusals
        wait_until(lambda: readyz(api) == 200, 60, "/readyz did not heal")

        retried = _load(spec, orders)  # every order a second time, under the same key
        expected = {order_id_for_key(o.order_id): o for o in orders}
        assert retried.accepted == COUNT, retried.refusals
        assert set(retried.acked_at) == set(expected)
        enrichment.restart()
        _assert_one_reservation_per_key(settings, expected)
    finally:
        h.stop_all()


def _load(spec: LoadSpec, orders: list[OrderCreated]) -> LoadReport:
    return asyncio.run(load_over_http(spec, orders, lambda _n: None))


def _wait_for_stock(api: ServiceHandle) -> None:
    """Until each product's seeded stock is applied, an order for it may be rejected."""
    for index in range(PRODUCTS):
        wait_until(lambda i=index: _probe_reserved(api, i), 90, f"{product_id(index)} unstocked")


def _probe_reserved(api: ServiceHandle, index: int) -> bool:
    body = {"customerId": "probe", "productId": product_id(index), "quantity": 1}
    placed = httpx.post(f"{api.url}/orders", json=body, timeout=10)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["orderId"]
    outcome = httpx.get(f"{api.url}/orders/{order_id}", params={"wait": 10}, timeout=20)
    return outcome.status_code == 200 and outcome.json()["status"] == "RESERVED"


def _assert_one_reservation_per_key(settings: Settings, expected: dict[str, OrderCreated]) -> None:
    serde = EventSerde.from_settings(settings)
    try:
        enriched = _enriched_when_all_there(settings, serde, set(expected))
    finally:
        serde.close()
    ours = [e for e in enriched if e.order_id in expected]
    per_key = Counter(e.order_id for e in ours)
    assert set(per_key.values()) == {1}, [k for k, n in per_key.items() if n > 1][:5]
    assert {e.status for e in ours} == {"RESERVED"}
    for e in ours:
        sent = expected[e.order_id]
        assert (e.product_id, e.quantity) == (sent.product_id, sent.quantity)
    # Every reservation of a product (probes included) took its quantity once: the stock after
    # the last one is the seed minus their sum.
    taken: defaultdict[str, int] = defaultdict(int)
    lowest: dict[str, int] = {}
    for e in enriched:
        if e.status == "RESERVED":
            taken[e.product_id] += e.quantity
            lowest[e.product_id] = min(lowest.get(e.product_id, STOCK), e.stock_after)
    assert lowest == {p: STOCK - n for p, n in taken.items()}


def _enriched_when_all_there(
    settings: Settings, serde: EventSerde, wanted: set[str]
) -> list[EnrichedOrder]:
    deadline = time.monotonic() + 120
    while True:
        events = [serde.decode(r.value) for r in read_topic(settings, "enriched-orders")]
        enriched = [e for e in events if isinstance(e, EnrichedOrder)]
        if wanted <= {e.order_id for e in enriched} or time.monotonic() > deadline:
            missing = wanted - {e.order_id for e in enriched}
            assert not missing, f"{len(missing)} orders never enriched"
            return enriched
        time.sleep(0.5)
