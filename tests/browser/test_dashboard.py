"""The dashboard in headless Chromium while load runs: no console errors, live numbers that
match /api/stats, the payment figures and the circuit state (from payments' real gauges over a
real breaker, then "unknown" once that endpoint is gone), and a screenshot under var/."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page
from prometheus_client import CollectorRegistry, start_http_server
from tests.integration.analytics.support import OrderFeed, create_topics, running_analytics

from orderstream.config import Settings
from orderstream.serde import EventSerde, PaymentCompleted, PaymentFailed
from orderstream.services.payments.breaker import CircuitBreaker
from orderstream.services.payments.service import register_metrics
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.registry import free_port

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "dashboard.png"
# element id -> path in /api/stats
SHOWN = {
    "orders-total": ("totals", "orders"),
    "reserved": ("totals", "reserved"),
    "rejected": ("totals", "rejected"),
    "revenue-total": ("totals", "revenueCents"),
    "late": ("totals", "late"),
    "windows-closed": ("totals", "windowsClosed"),
    "paid": ("payments", "paid"),
    "paid-revenue": ("payments", "paidCents"),
    "failed": ("payments", "failed"),
    "reserved-revenue": ("payments", "reservedCents"),
}


def shown(page: Page) -> dict[str, float]:
    return {name: float(page.get_attribute(f"#{name}", "data-value") or "nan") for name in SHOWN}


def served(url: str) -> dict[str, float]:
    stats: dict[str, Any] = httpx.get(url + "/api/stats", timeout=5).json()
    return {name: float(stats[a][b]) for name, (a, b) in SHOWN.items()}


class PaymentsMetrics:
    """payments' /metrics as payments serves it: its real gauges over a real breaker."""

    def __init__(self, port: int) -> None:
        self.breaker = CircuitBreaker(failure_threshold=1, open_ms=3_600_000)
        registry = CollectorRegistry()
        processor = SimpleNamespace(
            breaker=self.breaker, waiting=3, in_flight=0, completed=0, failed=0, expired=0,
            timeouts=0, purged=0,
        )  # fmt: skip
        loop = SimpleNamespace(metrics=SimpleNamespace(registry=registry))
        register_metrics(loop, processor)  # type: ignore[arg-type]
        self.server, self.thread = start_http_server(port, "127.0.0.1", registry)
        self.url = f"http://127.0.0.1:{port}/metrics"

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def produce_payments(feed: OrderFeed) -> tuple[list[int], list[int]]:
    """PaymentCompleted for 7 orders and PaymentFailed for 3; the amounts paid and failed."""
    paid, failed = [], []
    for i in range(10):
        amount = 1_000 + 137 * i
        topic = feed.topics.paid if i < 7 else feed.topics.failed
        event: Any = (
            PaymentCompleted(f"pay-{i}", "C-1", "P-1", 1, amount, "EUR", f"sim-{i}", 1, 2)
            if i < 7
            else PaymentFailed(f"pay-{i}", "C-1", "P-1", 1, amount, "EUR", "DECLINED", None, 1, 2)
        )
        (paid if i < 7 else failed).append(amount)
        feed.producer.produce(
            topic, feed.serde.encode(topic, event), f"pay-{i}".encode(), partition=i % 3
        )
    feed.producer.flush(30)
    return paid, failed


def wait_until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_dashboard_is_live_and_matches_the_api(
    kafka_cluster: LocalCluster,
    analytics_settings: Settings,
    serde: EventSerde,
    browser: Browser,
    tmp_path: Path,
) -> None:
    topics = create_topics(kafka_cluster)
    feed = OrderFeed(analytics_settings, topics, serde)
    stop = threading.Event()
    payments = PaymentsMetrics(free_port())
    try:
        with running_analytics(
            analytics_settings, topics, tmp_path, idle_close_ms=1_000,
            payments_metrics_url=payments.url,
        ) as app:  # fmt: skip
            app.wait_ready()
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(app.url + "/")
            check_live_orders(page, app.url, feed, stop)
            check_payments(page, app.url, feed, payments)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            payments.stop()  # payments goes down: the page must not keep its last state
            wait_until(lambda: circuit(page) == "unknown", 15, "the circuit to show unknown")
            detail = page.text_content("#circuit-detail") or ""
            assert "payments not reachable" in detail, detail
            assert not problems, problems
    finally:
        payments.stop()


def circuit(page: Page) -> str | None:
    return page.get_attribute("#circuit", "data-value")


def check_live_orders(page: Page, url: str, feed: OrderFeed, stop: threading.Event) -> None:
    load = threading.Thread(target=feed.produce_live, args=(14.0, 800.0, stop))
    load.start()
    try:
        wait_until(lambda: shown(page)["orders-total"] > 0, 30, "orders on the page")
        first = shown(page)["orders-total"]
        wait_until(lambda: shown(page)["orders-total"] > first, 10, "the count to move")
        # Three closed windows (of three partitions each): a chart worth a screenshot.
        wait_until(lambda: shown(page)["windows-closed"] >= 9, 30, "closed windows")
        assert float(page.get_attribute("#orders-per-sec", "data-value") or 0) > 0
    finally:
        stop.set()
        load.join(30)
    # Once every order is counted (in a window or as late), page and API agree.
    wait_until(
        lambda: (s := served(url))["orders-total"] + s["late"] == feed.sent,
        30,
        "every order counted",
    )
    wait_until(lambda: shown(page) == served(url), 10, "the page to match /api/stats")
    assert page.locator("#categories .row").count() >= 3
    wait_until(lambda: page.locator("#lag tr[data-group]").count() >= 1, 10, "consumer lag")
    assert page.locator("#alerts tr[data-order]").count() >= 1
    assert page.locator("#windows-chart rect").count() >= 3


def check_payments(page: Page, url: str, feed: OrderFeed, payments: PaymentsMetrics) -> None:
    """Paid against reserved revenue and the failure rate, from the events produced; the
    circuit as payments' gauge says, closed then open."""
    wait_until(lambda: circuit(page) == "closed", 15, "the circuit to show closed")
    paid, failed = produce_payments(feed)
    wait_until(lambda: shown(page)["failed"] == len(failed), 30, "the payments on the page")
    assert shown(page) == served(url)
    stats = httpx.get(url + "/api/stats", timeout=5).json()
    reserved = stats["totals"]["revenueCents"]
    assert stats["payments"]["reservedCents"] == reserved > 0
    assert (shown(page)["paid"], shown(page)["paid-revenue"]) == (len(paid), sum(paid))
    assert float(page.get_attribute("#failure-rate", "data-value") or "nan") == 0.3
    share = float(page.get_attribute("#paid-share", "data-value") or "nan")
    assert share == round(sum(paid) / reserved, 4)
    assert "DECLINED 3" in (page.text_content("#failure-reasons") or "")
    payments.breaker.record_failure("the provider timed out")
    wait_until(lambda: circuit(page) == "open", 15, "the circuit to show open")
    assert "3 waiting" in (page.text_content("#circuit-detail") or "")
