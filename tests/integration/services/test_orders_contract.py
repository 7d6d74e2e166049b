"""The orders API's contract on a real broker: idempotency keys, conflicts, its OpenAPI document.

The document must list every route, and the API must survive a schemathesis run driven by it:
no 5xx, no answer that contradicts the document, and every order that got a 2xx in ``orders``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from orderstream.config import Settings
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.topics_reader import read_topic
from orderstream.serde import EventSerde
from orderstream.services.orders.idempotency import order_id_for_key

pytestmark = pytest.mark.integration

TAKES_INPUT = {"/orders", "/orders/batch", "/orders/{order_id}"}
ROUTES = {"/orders", "/orders/batch", "/orders/{order_id}", "/healthz", "/readyz", "/metrics"}
EXAMPLES = 15  # per operation and mode: about 200 requests in all
ACKED: set[str] = set()  # every orderId the fuzz run got a 2xx for


@pytest.fixture(scope="module")
def api(
    pipeline_env: tuple[object, Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceHandle]:
    h = PipelineHarness(pipeline_env[1], tmp_path_factory.mktemp("contract"))
    try:
        yield h.start_orders()
    finally:
        h.stop_all()


def order(**fields: object) -> dict[str, object]:
    return {"customerId": "c-1", "productId": "p-00001", "quantity": 1, **fields}


def post(api: ServiceHandle, path: str, body: object, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return httpx.post(f"{api.url}{path}", json=body, headers=headers, timeout=20)


def test_a_retry_under_the_same_key_is_the_same_order_and_replays(api: ServiceHandle) -> None:
    key = f"k-{uuid.uuid4().hex}"
    first = post(api, "/orders", order(quantity=3), key)
    assert first.status_code == 202, first.text
    assert first.json()["orderId"] == order_id_for_key(key)
    again = post(api, "/orders", order(quantity=3), key)
    assert again.status_code == 202, again.text
    assert again.json() == {"orderId": order_id_for_key(key), "replayed": True}
    looked_up = httpx.get(f"{api.url}/orders/{order_id_for_key(key)}")
    assert looked_up.status_code == 202, looked_up.text  # written, no enrichment running here
    assert looked_up.json()["status"] == "PENDING"


def test_a_key_reused_for_a_different_order_is_409(api: ServiceHandle) -> None:
    key = f"k-{uuid.uuid4().hex}"
    assert post(api, "/orders", order(quantity=1), key).status_code == 202
    conflict = post(api, "/orders", order(quantity=2), key)
    assert conflict.status_code == 409, conflict.text
    assert key in conflict.json()["detail"]
    assert conflict.json()["orderId"] == order_id_for_key(key)

    own_id = f"o-{uuid.uuid4().hex}"  # without a key, the client's orderId is the key
    assert post(api, "/orders", order(orderId=own_id), None).status_code == 202
    assert post(api, "/orders", order(orderId=own_id, productId="p-2"), None).status_code == 409


def test_a_batch_key_names_each_item_by_position(api: ServiceHandle) -> None:
    key = f"b-{uuid.uuid4().hex}"
    items = [order(quantity=1), order(quantity=0), order(quantity=2)]
    first = post(api, "/orders/batch", items, key)
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["results"]] == [202, 422, 202]
    assert first.json()["results"][2]["orderId"] == order_id_for_key(key, 2)
    changed = [order(quantity=1), order(quantity=1), order(quantity=5)]
    again = post(api, "/orders/batch", changed, key).json()["results"]
    assert [r["status"] for r in again] == [202, 202, 409]
    assert again[0]["replayed"] is True


def test_a_bad_key_is_422_and_an_order_id_contradicting_its_key_409(api: ServiceHandle) -> None:
    bad = post(api, "/orders", order(), "has space")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    mismatch = post(api, "/orders", order(orderId="o-other"), "k-1")
    assert mismatch.status_code == 409
    assert mismatch.json()["orderId"] == order_id_for_key("k-1")
    assert "send one or the other" in mismatch.json()["detail"]


def test_the_document_has_every_route_and_docs_are_served(api: ServiceHandle) -> None:
    doc = httpx.get(f"{api.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == ROUTES
    page = httpx.get(f"{api.url}/docs")
    assert page.status_code == 200
    assert "swagger" in page.text.lower()
    assert "/openapi.json" in page.text


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_get_documented_answers(api: ServiceHandle, mode: GenerationMode) -> None:
    """Every operation, valid data then invalid data, each answer checked against the document.

    schemathesis' pytest loader (``from_fixture``) does not run on pytest 9.2 (it reads
    ``node._nodeid``), so the cases come from its strategies through hypothesis directly.
    """
    document = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in document.get_all_operations()]
    assert {op.path for op in operations} == ROUTES

    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.path not in TAKES_INPUT:
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(mode).map(_short_wait))
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # bounded: no shrinking on this slow target
        )  # fmt: skip
        def call(case: Any) -> None:
            response = case.call_and_validate(base_url=api.url, timeout=20)
            _note_acked(case, response)

        call()


def _short_wait(case: Any) -> Any:
    """A valid ``wait`` long-polls up to 30 s for an order nobody enriches: keep it short."""
    wait = (case.query or {}).get("wait")
    if isinstance(wait, int | float) and not isinstance(wait, bool) and 0.2 < wait <= 30:
        case.query["wait"] = 0.2
    return case


def _note_acked(case: Any, response: Any) -> None:
    if response.status_code == 202 and case.method.upper() == "POST":
        ACKED.add(response.json()["orderId"])
    elif response.status_code == 200 and case.path == "/orders/batch":
        ACKED.update(r["orderId"] for r in response.json()["results"] if r["status"] == 202)


def test_every_fuzzed_order_that_got_a_2xx_is_in_orders(
    pipeline_env: tuple[object, Settings],
) -> None:
    assert ACKED, "the fuzz run had no order accepted"
    serde = EventSerde.from_settings(pipeline_env[1])
    try:
        written = {serde.decode(r.value).order_id for r in read_topic(pipeline_env[1], "orders")}
    finally:
        serde.close()
    assert written >= ACKED
