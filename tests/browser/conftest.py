"""Headless Debian Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from orderstream.config import Settings
from orderstream.serde import EventSerde
from orderstream.testing.cluster import LocalCluster

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an asyncio loop running in this thread until
    it exits, which would break asyncio.run() in every later test of the session."""
    assert CHROMIUM.exists(), "Debian's chromium is missing: run 'make browser'"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def analytics_settings(kafka_cluster: LocalCluster, schema_registry_url: str) -> Settings:
    return kafka_cluster.settings(registry_url=schema_registry_url)


@pytest.fixture
def serde(schema_registry_url: str) -> Iterator[EventSerde]:
    serde = EventSerde(schema_registry_url)
    yield serde
    serde.close()
