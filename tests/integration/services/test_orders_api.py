"""The orders API against a real broker: 4xx for bad bodies, 202 after the ack, read-your-writes.

Broker and registry outages are in tests/integration/orders/ (they need a broker of their own)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from orderstream.config import Settings
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.seed import product_id, seed_catalog
from orderstream.ops.topics_reader import read_topic
from orderstream.services.enrichment.rules import stock_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(
    pipeline_env: tuple[object, Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceHandle]:
    settings = pipeline_env[1]
    seed_catalog(settings, 10, 100)
    h = PipelineHarness(settings, tmp_path_factory.mktemp("api"))
    try:
        handle = h.start_orders()
        h.start_enrichment()
        _wait_for_stock(settings, product_id(1))
        yield handle
    finally:
        h.stop_all()


def _wait_for_stock(settings: Settings, product: str) -> None:
    """Orders and restocks come through different topics: wait until the seed is applied."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        changelog = read_topic(settings, "enrichment-stock-changelog")
        if any(r.key == stock_key(product) and r.value for r in changelog):
            return
        time.sleep(0.3)
    raise AssertionError(f"the seeded stock of {product} was not applied within 60 s")


def order(**fields: object) -> dict[str, object]:
    return {"customerId": "c-1", "productId": product_id(1), "quantity": 1, **fields}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"productId": "p-1", "quantity": 1}, "customerId"),
        (order(quantity=0), "quantity"),
        (order(quantity=1001), "quantity"),
        (order(quantity="2"), "quantity"),
        (order(productId=""), "productId"),
        (order(currency="euro"), "currency"),
        (order(extra=1), "extra"),
    ],
)
def test_invalid_orders_get_422_naming_the_field(
    api: ServiceHandle, body: dict[str, object], field: str
) -> None:
    r = httpx.post(f"{api.url}/orders", json=body)
    assert r.status_code == 422
    assert any(field in err["loc"] for err in r.json()["detail"]), r.json()


def test_malformed_and_oversized_bodies(api: ServiceHandle) -> None:
    assert httpx.post(f"{api.url}/orders", content=b"{not json").status_code == 422
    assert httpx.post(f"{api.url}/orders", content=b"[]").status_code == 422
    huge = b'{"customerId": "' + b"x" * 1_100_000 + b'"}'
    assert httpx.post(f"{api.url}/orders", content=huge).status_code == 413
    too_many = [order() for _ in range(1001)]
    assert httpx.post(f"{api.url}/orders/batch", json=too_many).status_code == 422


def test_post_then_long_poll_returns_the_outcome(api: ServiceHandle) -> None:
    r = httpx.post(f"{api.url}/orders", json=order(quantity=2))
    assert r.status_code == 202
    order_id = r.json()["orderId"]
    uuid.UUID(order_id)  # assigned by the server
    outcome = httpx.get(f"{api.url}/orders/{order_id}", params={"wait": 5}, timeout=10)
    assert outcome.status_code == 200, outcome.text
    body = outcome.json()
    assert body["orderId"] == order_id
    assert body["status"] == "RESERVED"
    assert body["productName"] == "Product 1"
    assert body["stockAfter"] >= 0

    unknown = httpx.post(f"{api.url}/orders", json=order(productId="no-such-product"))
    oid = unknown.json()["orderId"]
    rejected = httpx.get(f"{api.url}/orders/{oid}", params={"wait": 5}, timeout=10).json()
    assert (rejected["status"], rejected["rejectReason"]) == ("REJECTED", "UNKNOWN_PRODUCT")


def test_unknown_order_is_404(api: ServiceHandle) -> None:
    assert httpx.get(f"{api.url}/orders/never-posted").status_code == 404
    started = time.monotonic()
    assert httpx.get(f"{api.url}/orders/never-posted", params={"wait": 0.5}).status_code == 404
    assert time.monotonic() - started >= 0.5


def test_batch_reports_each_order(api: ServiceHandle) -> None:
    items = [order(orderId=f"b-{uuid.uuid4().hex}"), order(quantity=0), order()]
    r = httpx.post(f"{api.url}/orders/batch", json=items)
    assert r.status_code == 200
    statuses = [res["status"] for res in r.json()["results"]]
    assert statuses == [202, 422, 202]
    assert r.json()["results"][0]["orderId"] == items[0]["orderId"]
