"""Poison pills in ``orders`` go to ``orders.dlq`` with their provenance; the audit still passes."""

from __future__ import annotations

import os
import time

import pytest
from confluent_kafka import Producer

from orderstream.config import Role, Settings, kafka_config
from orderstream.ops.audit import run_audit
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.load import LoadSpec, build_orders, load_direct
from orderstream.ops.seed import seed_catalog
from orderstream.ops.topics_reader import RawRecord, read_topic
from orderstream.runtime import H_ERROR_CLASS, H_SOURCE_OFFSET, H_SOURCE_TOPIC
from orderstream.serde import EventSerde, InventoryAdjusted

pytestmark = pytest.mark.integration


def _dlq_records(settings: Settings, topic: str, want: int) -> list[RawRecord]:
    deadline = time.monotonic() + 60
    records = read_topic(settings, topic)
    while len(records) < want and time.monotonic() < deadline:
        time.sleep(0.5)
        records = read_topic(settings, topic)
    return records


def test_poison_pills_reach_the_dlq_and_the_audit_passes(
    harness: PipelineHarness, pipeline_settings: Settings
) -> None:
    seed_catalog(pipeline_settings, 20, 1000)
    harness.start_enrichment()
    before = len(read_topic(pipeline_settings, "orders.dlq"))
    serde = EventSerde.from_settings(pipeline_settings)
    producer = Producer(kafka_config(Role.PRODUCER, "poison", settings=pipeline_settings))
    try:
        pills = {
            b"random-bytes": os.urandom(64),
            b"unknown-schema-id": b"\x00\x7f\xff\xff\xf0" + os.urandom(20),
            b"wrong-type": serde.encode(
                "inventory-adjustments", InventoryAdjusted("p-00001", 5, "x", 0)
            ),
        }
        for key, value in pills.items():
            producer.produce("orders", value, key)
        bad_restock = serde.encode(
            "inventory-adjustments", InventoryAdjusted("p-00002", -3, "x", 0)
        )
        producer.produce("inventory-adjustments", bad_restock, b"p-00002")
        assert producer.flush(30) == 0
    finally:
        serde.close()

    spec = LoadSpec(count=2000, rate=0, products=20, direct=True, seed=11)
    report = load_direct(spec, pipeline_settings, build_orders(spec, "poison"), lambda _n: None)
    assert report.accepted == 2000

    dlq = _dlq_records(pipeline_settings, "orders.dlq", before + len(pills))
    assert {r.key for r in dlq[before:]} == set(pills)
    for record in dlq[before:]:
        headers = dict(record.headers)
        assert headers[H_SOURCE_TOPIC] == b"orders"
        assert int(headers[H_SOURCE_OFFSET]) >= 0
        assert headers[H_ERROR_CLASS]
    restock_dlq = _dlq_records(pipeline_settings, "inventory-adjustments.dlq", 1)
    assert [r.key for r in restock_dlq] == [b"p-00002"]

    results = run_audit(pipeline_settings, timeout_s=60)
    assert all(r.ok for r in results), results
