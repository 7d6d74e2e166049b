"""Two copies of the pipeline on ONE cluster and ONE registry, told apart by ORDERSTREAM_PREFIX.

Each copy (orders API, enrichment, analytics, payments) gets its own topics, groups and
transactional ids, and its subjects in the shared registry. Orders go to both; each copy's audit
passes on its own orders only, and nothing of one copy is touched by the other.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from orderstream.config import Role, Settings, kafka_config
from orderstream.ops.audit import CheckResult, run_audit
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.seed import product_id, seed_catalog
from orderstream.platform.topology import (
    apply_plan,
    default_topology_path,
    load_topology,
    plan_topology,
)
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import wait_for

pytestmark = pytest.mark.integration

PRODUCTS = 5
ORDERS = {"blue": 30, "green": 20}  # different counts: an audit that read both would show it
GROUPS = ("enrichment", "analytics", "payments")
COMMIT_WAIT_S = 60.0


@pytest.fixture
def copies(
    kafka_cluster: LocalCluster, schema_registry_url: str, tmp_path: Path
) -> Iterator[dict[str, tuple[Settings, dict[str, ServiceHandle]]]]:
    run = uuid.uuid4().hex[:6]  # the session cluster outlives this test: names of its own
    harnesses = {
        color: PipelineHarness(
            Settings(
                bootstrap_servers=kafka_cluster.bootstrap,
                registry_url=schema_registry_url,
                home=tmp_path / color,
                prefix=f"t{run}-{color}.",
            ),
            tmp_path / color / "run",
        )
        for color in ORDERS
    }
    # The copies are prepared and started side by side, and stopped so: half the wall time.
    with ThreadPoolExecutor(len(harnesses)) as pool:
        try:
            started = dict(
                zip(harnesses, pool.map(_prepare_and_start, harnesses.values()), strict=False)
            )
            for handles in started.values():
                for handle in handles.values():
                    handle.ready_or_stop(120.0)
            yield {color: (harnesses[color].settings, started[color]) for color in harnesses}
        finally:
            _stop_side_by_side(list(harnesses.values()))


def _stop_side_by_side(harnesses: list[PipelineHarness]) -> None:
    """Every process at once (each finishes its transaction and leaves its group), then
    ``stop_all`` of each harness, which also covers any stop that failed."""
    handles = [h for harness in harnesses for h in harness.handles]
    with ThreadPoolExecutor(max(1, len(handles))) as pool:
        list(pool.map(_stop_quietly, handles))
    for harness in harnesses:
        harness.stop_all()


def _stop_quietly(handle: ServiceHandle) -> None:
    with contextlib.suppress(Exception):  # stop_all stops it again and raises what is left
        handle.stop()


def _prepare_and_start(harness: PipelineHarness) -> dict[str, ServiceHandle]:
    # topics apply under the copy's prefix; the services register their subjects as they write
    # (schemas register would cost a CLI process per copy)
    admin, plan = plan_topology(harness.settings)
    apply_plan(admin, plan)
    seed_catalog(harness.settings, PRODUCTS, 1_000)
    return _start(harness)


def _start(harness: PipelineHarness) -> dict[str, ServiceHandle]:
    """Every service of one copy, started without waiting (the copies start side by side)."""
    return {
        "orders": harness.start_orders(wait=False),
        "enrichment": harness.start_enrichment(wait=False),
        # short windows, closed soon after the last order: the audit's check 3 settles quickly
        "analytics": harness.start_analytics(
            *("--window-ms", "1000", "--grace-ms", "200", "--idle-close-ms", "1000"), wait=False
        ),
        "payments": harness.start_payments("--latency-ms", "1", "--jitter-ms", "1", wait=False),
    }


def _post_orders(url: str, color: str, count: int) -> set[str]:
    ids = set()
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(count):
            order = {
                "orderId": f"{color}-{i}",
                "customerId": f"c-{i % 3}",
                "productId": product_id(i % PRODUCTS),
                "quantity": 1,
                "amountCents": 100,
            }
            answer = client.post("/orders", json=order)
            assert answer.status_code in (200, 201, 202), answer.text
            ids.add(order["orderId"])
    return ids


def _audit(settings: Settings) -> list[CheckResult]:
    return run_audit(settings, timeout_s=120)


def _order_ids(settings: Settings, topic: str) -> set[str]:
    """Every key of ``topic`` (committed records), read from the start without a group."""
    conf = kafka_config(
        Role.CONSUMER,
        "t",
        settings=settings,
        group_id=f"t-{uuid.uuid4().hex}",
        overrides={"enable.partition.eof": True},  # read_committed: EOF is at the stable end
    )
    consumer = Consumer(conf)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        keys: set[str] = set()
        pending = set(partitions)
        while pending:
            msg = consumer.poll(30)
            assert msg is not None, f"{topic}: nothing within 30 s, partitions {pending} not read"
            err = msg.error()
            if err is not None and err.code() == KafkaError._PARTITION_EOF:
                pending.discard(msg.partition())
            elif err is None:
                keys.add((msg.key() or b"").decode())
        return keys
    finally:
        consumer.close()


def _committed_topics(admin: AdminClient, group: str) -> set[str]:
    """The topics ``group`` has committed offsets on, once it has any: the audit does not wait
    for analytics (orders it has not processed yet pass it), so its first commit may be later."""
    read: set[str] = set()

    def committed() -> bool:
        answer = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        parts = answer[group].result(timeout=15).topic_partitions or []
        read.update(tp.topic for tp in parts if tp.offset >= 0)
        return bool(read)

    wait_for(committed, COMMIT_WAIT_S, f"{group} to commit an offset")
    return read


def test_two_prefixed_pipelines_share_one_cluster_and_registry(
    copies: dict[str, tuple[Settings, dict[str, ServiceHandle]]], kafka_cluster: LocalCluster
) -> None:
    posted = {c: _post_orders(h["orders"].url, c, ORDERS[c]) for c, (_, h) in copies.items()}

    with ThreadPoolExecutor(len(copies)) as pool:  # the two audits side by side
        audits = dict(zip(copies, pool.map(_audit, (s for s, _ in copies.values())), strict=True))
    for color, (settings, _) in copies.items():
        results = audits[color]
        failing = [r for r in results if not r.ok]
        assert not failing, f"{color}: {failing}"
        n = ORDERS[color]
        assert results[0].detail.startswith(f"{n} orders, {n} enriched; missing 0"), results[0]
        # its topics hold its orders and nothing of the other copy's
        assert _order_ids(settings, settings.named("orders")) == posted[color]
        assert _order_ids(settings, settings.named("enriched-orders")) == posted[color]

    blue, green = (copies[c][0] for c in ORDERS)
    admin = AdminClient(kafka_config(Role.ADMIN, "t", settings=blue))
    topics = set(admin.list_topics(timeout=10).topics)
    declared = [t.name for t in load_topology(default_topology_path(), 1) if t.name != "_schemas"]
    for settings in (blue, green):
        # topics apply created every topic of the topology under the copy's prefix
        assert {settings.named(t) for t in declared} <= topics
    for settings, other in ((blue, green), (green, blue)):
        for app in GROUPS:
            group = settings.named(app)
            read = _committed_topics(admin, group)
            # a copy's groups read only its own topics
            assert all(t.startswith(settings.prefix) for t in read), (group, read)
            assert not any(t.startswith(other.prefix) for t in read), (group, read)
    groups = {g.group_id for g in admin.list_consumer_groups().result(timeout=15).valid}
    for app in GROUPS:
        assert {blue.named(app), green.named(app)} <= groups
    # the registry: each copy's subjects follow its topics (TopicNameStrategy)
    subjects = set(httpx.get(f"{blue.registry_url}/subjects", timeout=30).json())
    for settings in (blue, green):
        assert settings.named("orders-value") in subjects
        assert settings.named("enriched-orders-value") in subjects
