"""The dashboard in headless Chromium while load runs: no console errors, live numbers that
match /api/stats, and a screenshot under var/ for people to look at."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page
from tests.integration.analytics.support import OrderFeed, create_topics, running_analytics

from orderstream.config import Settings
from orderstream.serde import EventSerde
from orderstream.testing.cluster import LocalCluster

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
}


def shown(page: Page) -> dict[str, float]:
    return {name: float(page.get_attribute(f"#{name}", "data-value") or "nan") for name in SHOWN}


def served(url: str) -> dict[str, float]:
    stats: dict[str, Any] = httpx.get(url + "/api/stats", timeout=5).json()
    return {name: float(stats[a][b]) for name, (a, b) in SHOWN.items()}


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
    with running_analytics(analytics_settings, topics, tmp_path, idle_close_ms=1_000) as app:
        app.wait_ready()
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(app.url + "/")
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
            lambda: (s := served(app.url))["orders-total"] + s["late"] == feed.sent,
            30,
            "every order counted",
        )
        wait_until(lambda: shown(page) == served(app.url), 10, "the page to match /api/stats")
        assert page.locator("#categories .row").count() >= 3
        wait_until(lambda: page.locator("#lag tr[data-group]").count() >= 1, 10, "consumer lag")
        assert page.locator("#alerts tr[data-order]").count() >= 1
        assert page.locator("#windows-chart rect").count() >= 3
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert not problems, problems
