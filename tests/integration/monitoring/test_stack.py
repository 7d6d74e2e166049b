"""MonitoringStack against a real broker and a real registry: Prometheus scrapes them and the lag
exporter, every PromQL expression of the rules and of the Grafana dashboard runs without error,
and /api/v1/rules lists the rules, one of them on consumer lag in seconds."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from orderstream.monitoring.ports import MonitoringPorts
from orderstream.monitoring.rules import RULES_FILE
from orderstream.monitoring.stack import MonitoringStack, ScrapeTarget
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.registry import free_port

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "orderstream.json"


@pytest.fixture(scope="module")
def monitoring(
    kafka_cluster: LocalCluster, schema_registry_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MonitoringStack]:
    settings = kafka_cluster.settings(home=tmp_path_factory.mktemp("home"))
    ports = MonitoringPorts(free_port(), free_port(), free_port())
    registry_port = int(schema_registry_url.rsplit(":", 1)[1])
    stack = MonitoringStack(
        settings, ports, targets=[ScrapeTarget("registry", (registry_port,))], interval_s=1
    )
    lines: list[str] = []
    try:
        stack.start(lines.append)
        yield stack
    finally:
        stack.stop(lines.append)
    assert all(c.name not in stack.running() for c in stack.components)


def _query(stack: MonitoringStack, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def _wait_for(stack: MonitoringStack, expr: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = _query(stack, expr)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{expr} returned nothing for 90 s")


def _backlog(cluster: LocalCluster) -> str:
    """A group 3 records behind on a fresh topic."""
    bootstrap = cluster.bootstrap
    topic, group = cluster.create_topic(), f"mon-{uuid.uuid4().hex[:6]}"
    producer = Producer({"bootstrap.servers": bootstrap})
    for _ in range(5):
        producer.produce(topic, b"x")
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    finally:
        consumer.close()
    return group


def test_prometheus_scrapes_the_stack_and_the_lag_exporter(
    monitoring: MonitoringStack, kafka_cluster: LocalCluster
) -> None:
    group = _backlog(kafka_cluster)
    for job in ("registry", "lag-exporter"):
        assert _wait_for(monitoring, f'up{{job="{job}"}} == 1')
    lag = _wait_for(monitoring, f'kafka_consumergroup_group_lag{{group="{group}"}}')
    assert [r["value"][1] for r in lag] == ["3"]
    assert _wait_for(monitoring, 'registry_requests_total{route="status"}')


def test_rules_are_loaded_one_on_lag_in_seconds(monitoring: MonitoringStack) -> None:
    answer = httpx.get(f"{monitoring.prometheus_url}/api/v1/rules", timeout=10).json()
    rules = [r for g in answer["data"]["groups"] for r in g["rules"]]
    assert len(rules) == 10
    assert all(r["health"] != "err" for r in rules), rules
    on_seconds = [r for r in rules if "kafka_consumergroup_group_lag_seconds" in r["query"]]
    assert [r["name"] for r in on_seconds] == ["ConsumerLagHigh"]
    alertmanagers = httpx.get(f"{monitoring.prometheus_url}/api/v1/alertmanagers", timeout=10)
    active = alertmanagers.json()["data"]["activeAlertmanagers"]
    assert [a["url"] for a in active] == [f"{monitoring.alertmanager_url}/api/v2/alerts"]


def test_every_rule_and_dashboard_expression_runs(monitoring: MonitoringStack) -> None:
    rules = [
        r["expr"] for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]
    ]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    assert len(rules) == 10 and len(exprs) >= 8
    for expr in rules + exprs:
        _query(monitoring, expr.replace("$__rate_interval", "1m"))
