"""The kafkajs consumer reads enriched-orders out of the box: default codec, our registry."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.ops.harness import free_port

from .conftest import JAVA_ORDERS, NODE_CONSUMER, JavaRun

pytestmark = pytest.mark.integration

PROCESSED = re.compile(r'^orders_processed_total\{status="(\w+)"\} (\d+)', re.MULTILINE)


@pytest.fixture
def node_consumer(examples_pipeline: JavaRun, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The example as its README runs it, pointed at the test pipeline; always stopped."""
    port = free_port()
    out = tmp_path / "node-consumer.out"
    env = {
        **os.environ,
        "KAFKA_BROKERS": examples_pipeline.settings.bootstrap_servers,
        "SCHEMA_REGISTRY_URL": examples_pipeline.settings.registry_url,
        "GROUP_ID": f"node-consumer-test-{port}",
        "METRICS_PORT": str(port),
        "PRINT_ORDERS": "1",
    }
    with out.open("wb") as stdout, (tmp_path / "node-consumer.err").open("wb") as stderr:
        proc = subprocess.Popen(
            ["node", "consumer.js"], cwd=NODE_CONSUMER, env=env, stdout=stdout, stderr=stderr
        )
    try:
        yield f"http://127.0.0.1:{port}/metrics", out
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def processed_counts(url: str) -> dict[str, int]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    return {status: int(n) for status, n in PROCESSED.findall(text)}


def test_node_consumer_decodes_every_enriched_order(
    examples_pipeline: JavaRun, node_consumer: tuple[str, Path]
) -> None:
    url, out = node_consumer
    deadline = time.monotonic() + 180
    counts: dict[str, int] = {}
    while sum(counts.values()) < JAVA_ORDERS:
        assert time.monotonic() < deadline, f"orders_processed_total stayed at {counts}: {out}"
        time.sleep(0.2)
        counts = processed_counts(url)
    assert sum(counts.values()) == JAVA_ORDERS
    assert set(counts) <= {"RESERVED", "REJECTED"} and counts.get("RESERVED", 0) > 0

    decoded = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert {d["orderId"] for d in decoded} == examples_pipeline.order_ids
    sample = decoded[0]
    assert sample["productId"].startswith("p-") and sample["productName"].startswith("Product ")
    assert sample["currency"] == "EUR" and sample["quantity"] >= 1
