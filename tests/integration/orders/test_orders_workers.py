"""``run orders --workers 2``: one service whichever worker a connection reaches.

Every request below goes on a fresh connection, which the kernel hands to either worker
(SO_REUSEPORT): the same Idempotency-Key sent at once with two different orders is one order,
one /metrics scrape sums both workers, and SIGTERM stops both.
"""

from __future__ import annotations

import concurrent.futures
import socket
import uuid
from pathlib import Path

import httpx
import pytest

from orderstream.config import Settings
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.topics_reader import read_topic
from orderstream.services.orders.idempotency import DIGEST_HEADER, order_id_for_key
from orderstream.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration

ATTEMPTS = 16  # P(all on one worker) = 2**-15


def _metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_two_workers_keep_one_order_per_key_and_one_metrics_view(
    orders_env: tuple[LocalCluster, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cluster, settings = orders_env
    monkeypatch.setenv("WEB_CONCURRENCY", "2")  # what --workers reads when not given
    h = PipelineHarness(settings, tmp_path / "run")
    try:
        api = h.start_orders(wait=False)
        api.wait_ready(300)  # three processes start: generous on a loaded machine
        key = f"k-{uuid.uuid4().hex}"
        bodies = [
            {"customerId": "c-1", "productId": "p-00001", "quantity": 1 + i % 2}
            for i in range(ATTEMPTS)
        ]

        def post(body: dict[str, object]) -> httpx.Response:
            headers = {"Idempotency-Key": key}
            return httpx.post(f"{api.url}/orders", json=body, headers=headers, timeout=30)

        with concurrent.futures.ThreadPoolExecutor(ATTEMPTS) as pool:
            answers = list(pool.map(post, bodies))

        order_id = order_id_for_key(key)
        assert {a.json()["orderId"] for a in answers} == {order_id}
        won = {
            str(b["quantity"]) for b, a in zip(bodies, answers, strict=True) if a.status_code == 202
        }
        lost = {
            str(b["quantity"]) for b, a in zip(bodies, answers, strict=True) if a.status_code == 409
        }
        assert len(won) == 1, [a.text for a in answers]  # one order won the key, on both workers
        assert won | lost == {"1", "2"} and not won & lost

        written = [r for r in read_topic(settings, "orders") if r.key == order_id.encode()]
        assert written, "the winning order is not in orders"
        assert len({r.value for r in written}) == 1  # each write the same OrderCreated
        assert len({dict(r.headers)[DIGEST_HEADER] for r in written}) == 1

        scrape = httpx.get(f"{api.url}/metrics", timeout=10).text
        workers = [ln for ln in scrape.splitlines() if ln.startswith("orders_worker_started")]
        assert len({ln.split('pid="')[1].split('"')[0] for ln in workers}) == 2, workers
        answered = (
            _metric(scrape, "orders_accepted_total")
            + _metric(scrape, "orders_replayed_total")
            + _metric(scrape, 'orders_refused_total{reason="conflict"}')
        )
        assert answered == ATTEMPTS, scrape  # one scrape counts what both workers answered

        assert api.stop() == "stopped"  # SIGTERM: the supervisor and its workers drained
        with socket.socket() as probe:  # no worker is left listening on the port
            probe.bind(("127.0.0.1", api.spec.port))
    finally:
        h.stop_all()
