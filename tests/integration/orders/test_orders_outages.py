"""The orders API fails fast and heals by itself: broker down, then registry down.

With the broker killed, a batch answers 503 + Retry-After within the ack timeout (not a fresh
timeout per order), single orders are refused at once, /readyz turns 503, and all of it heals
once the broker is back, with no restart of the API; every order that got a 2xx is in ``orders``.
With the registry away before the schema was registered, orders get 503 + Retry-After (not 500)
and are accepted once it is back.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from tests.integration.orders.support import readyz, wait_until

from orderstream.config import Settings
from orderstream.ops.harness import PipelineHarness, ServiceHandle, free_port
from orderstream.ops.topics_reader import read_topic
from orderstream.platform.cluster import cluster_up
from orderstream.serde import EventSerde
from orderstream.services.orders.idempotency import order_id_for_key
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.registry import start_registry

pytestmark = pytest.mark.integration

ACK_TIMEOUT_S = 3.0  # the API's default (services/orders/server.py)


def order(**fields: object) -> dict[str, object]:
    return {"customerId": "c-1", "productId": "p-00001", "quantity": 1, **fields}


def test_broker_down_gives_503_fast_turns_readyz_and_heals_and_no_2xx_is_lost(
    orders_env: tuple[LocalCluster, Settings], tmp_path: Path
) -> None:
    cluster, settings = orders_env
    h = PipelineHarness(settings, tmp_path / "run")
    try:
        api = h.start_orders()
        accepted = _post_until(api, 20)
        assert cluster.spec is not None
        assert cluster.dist is not None
        cluster.kill(1)  # the broker is gone; what it acknowledged is on disk

        key = f"batch-{uuid.uuid4().hex}"
        batch = [order(quantity=q) for q in range(1, 51)]
        started = time.monotonic()
        r = _post(api, "/orders/batch", batch, key)
        assert time.monotonic() - started < ACK_TIMEOUT_S + 1.0, "not one deadline per batch"
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"]
        assert {item["status"] for item in r.json()["results"]} == {503}

        wait_until(lambda: readyz(api) == 503, 30, "/readyz did not turn 503")
        assert httpx.get(f"{api.url}/readyz").json()["kafka"]
        took = []
        for _ in range(5):
            started = time.monotonic()
            single = _post(api, "/orders", order(), None)
            took.append(time.monotonic() - started)
            assert single.status_code == 503, single.text
        # The open circuit refuses at once; it lets one probe per ack timeout try a real write.
        assert sum(t > ACK_TIMEOUT_S / 2 for t in took) <= 1, took

        cluster_up(cluster.dist, cluster.spec, timeout=120)
        wait_until(lambda: readyz(api) == 200, 60, "/readyz did not heal without a restart")
        accepted |= _post_until(api, 5)
        again = _post(api, "/orders/batch", batch, key)  # the retry of the refused batch
        assert again.status_code == 200, again.text
        results = again.json()["results"]
        assert [i["orderId"] for i in results] == [order_id_for_key(key, i) for i in range(50)]
        assert {i["status"] for i in results} == {202}
        accepted |= {i["orderId"] for i in results}
        assert accepted <= _order_ids_in_orders(settings)
    finally:
        h.stop_all()


def test_registry_down_gives_503_with_retry_after_then_heals(
    orders_env: tuple[LocalCluster, Settings], tmp_path: Path
) -> None:
    cluster, settings = orders_env
    port = free_port()
    away = settings.model_copy(update={"registry_url": f"http://127.0.0.1:{port}"})
    h = PipelineHarness(away, tmp_path / "run")
    registry = None
    try:
        api = h.start_orders()  # ready without the registry: it registers on the first order
        key = f"reg-{uuid.uuid4().hex}"
        for _ in range(2):
            started = time.monotonic()
            r = _post(api, "/orders", order(), key)
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"]
            assert "registry" in r.json()["detail"]
            assert time.monotonic() - started < ACK_TIMEOUT_S + 1.0
        assert httpx.get(f"{api.url}/healthz").status_code == 200  # the loop was never blocked

        registry = start_registry(cluster.bootstrap, port)
        registry.wait_ready()
        healed = _post(api, "/orders", order(), key)
        assert healed.status_code == 202, healed.text
        assert healed.json()["orderId"] == order_id_for_key(key)
    finally:
        h.stop_all()
        if registry is not None:
            registry.stop()


def _post(api: ServiceHandle, path: str, body: object, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return httpx.post(f"{api.url}{path}", json=body, headers=headers, timeout=20)


def _post_until(api: ServiceHandle, count: int) -> set[str]:
    """Post until ``count`` orders got 202 (retrying 503s for up to 60 s); their orderIds."""
    accepted: set[str] = set()
    deadline = time.monotonic() + 60
    while len(accepted) < count and time.monotonic() < deadline:
        r = _post(api, "/orders", order(), None)
        if r.status_code == 202:
            accepted.add(r.json()["orderId"])
        else:
            assert r.status_code == 503, r.text
            time.sleep(0.5)
    assert len(accepted) == count
    return accepted


def _order_ids_in_orders(settings: Settings) -> set[str]:
    serde = EventSerde.from_settings(settings)
    try:
        return {serde.decode(r.value).order_id for r in read_topic(settings, "orders")}
    finally:
        serde.close()
