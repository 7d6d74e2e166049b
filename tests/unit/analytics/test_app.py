"""The dashboard app without Kafka: page, assets, /api/stats, probes and metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter
from tests.unit.analytics.factories import order

from orderstream.services.analytics.app import create_app
from orderstream.services.analytics.live import ConsumerLag, LiveView
from orderstream.services.analytics.store import Totals
from orderstream.services.analytics.windows import WindowAggregate, WindowSpec


def _live() -> LiveView:
    live = LiveView(WindowSpec(10_000, 2_000))
    window = WindowAggregate(0, 10_000)
    for i in range(10):
        window.add(order(i, amount=100, category="books", status="RESERVED" if i else "REJECTED"))
    live.partition_state(0, Totals(orders=5, reserved=5, revenue_cents=50, late=2), {0: window})
    live.set_lag([ConsumerLag("analytics", "enriched-orders", 7, 6, 1.25)])
    live.cycle_done()
    return live


def test_page_and_assets_are_served_locally() -> None:
    client = TestClient(create_app(_live()))
    page = client.get("/")
    assert page.status_code == 200
    assert "/static/app.js" in page.text
    assert "http" not in page.text.replace("http://www.w3.org", "")  # nothing from the web
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200


def test_api_stats_sums_closed_totals_and_open_windows() -> None:
    stats = TestClient(create_app(_live())).get("/api/stats").json()
    assert stats["totals"] == {
        "orders": 15,
        "reserved": 14,
        "rejected": 1,
        "revenueCents": 950,
        "late": 2,
        "windowsClosed": 0,
    }
    assert stats["revenueByCategory"] == [{"category": "books", "cents": 900}]
    assert stats["windows"][0]["closed"] is False
    assert stats["lag"] == [
        {
            "group": "analytics",
            "topic": "enriched-orders",
            "lag": 7,
            "partitions": 6,
            "seconds": 1.25,
        }
    ]


def test_probes_and_metrics() -> None:
    ready = {"ok": False}
    own, runtime = CollectorRegistry(), CollectorRegistry()
    Counter("analytics_things", "a metric of analytics", registry=own)
    Counter("runtime_things", "a metric of the runtime", registry=runtime)
    app = create_app(_live(), ready=lambda: ready["ok"], registries=(own, runtime))
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    ready["ok"] = True
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    assert "analytics_things_total" in metrics
    assert "runtime_things_total" in metrics
