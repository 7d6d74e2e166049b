"""The Java transactional producer's orders flow through enrichment, and the audit passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orderstream.ops.topics_reader import read_topic
from orderstream.serde import EventSerde, OrderCreated
from orderstream.services.topics import ORDERS

from .conftest import JAVA_ORDERS, JavaRun

pytestmark = pytest.mark.integration


def test_java_orders_are_confluent_avro_with_our_schema_id(examples_pipeline: JavaRun) -> None:
    settings = examples_pipeline.settings
    assert examples_pipeline.summary["sent"] == JAVA_ORDERS
    records = read_topic(settings, ORDERS)
    serde = EventSerde.from_settings(settings)
    try:
        orders = [serde.decode(r.value) for r in records]
    finally:
        serde.close()
    assert all(isinstance(o, OrderCreated) for o in orders)
    assert {o.order_id for o in orders} == examples_pipeline.order_ids  # each once, none lost
    assert len(orders) == JAVA_ORDERS
    assert {r.key for r in records} == {i.encode() for i in examples_pipeline.order_ids}
    schema_id = int.from_bytes(records[0].value[1:5], "big")  # type: ignore[index]
    assert records[0].value[0] == 0 and schema_id == examples_pipeline.summary["schemaId"]  # type: ignore[index]


def test_java_orders_pass_the_audit(examples_pipeline: JavaRun) -> None:
    settings = examples_pipeline.settings
    env = {
        **os.environ,
        "ORDERSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "ORDERSTREAM_REGISTRY_URL": settings.registry_url,
        "ORDERSTREAM_HOME": str(settings.home),
    }
    audit = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "audit", "--json", "--timeout", "120"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    verdict = json.loads(audit.stdout)
    assert audit.returncode == 0 and verdict["ok"] is True, audit.stdout + audit.stderr
    exactly_once = verdict["checks"][0]["detail"]
    assert exactly_once.startswith(f"{JAVA_ORDERS} orders, {JAVA_ORDERS} enriched;"), exactly_once
    assert "missing 0, duplicated 0" in exactly_once
