"""``up --monitoring`` (Jaeger, Prometheus, Alertmanager, lag exporter; ``ps --json`` lists them)
and end to end traces in its real Jaeger: an order posted with a known ``traceparent`` becomes one
trace with spans from orders, both enrichment stages and analytics, each the child of the one
before; a record that fails in enrichment logs a line naming its trace and its order; and the
order's window stats, emitted from analytics' punctuation, continue the order's trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from orderstream.config import Settings
from orderstream.monitoring.part import MonitoringPart
from orderstream.monitoring.ports import MonitoringPorts
from orderstream.monitoring.stack import MonitoringStack
from orderstream.ops.harness import free_port
from orderstream.ops.load import LoadSpec, build_orders, order_json
from orderstream.ops.seed import seed_catalog
from orderstream.ops.stack import SERVICES, ServiceSpec, Stack

pytestmark = pytest.mark.integration

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
POISON_TRACE_ID = "5b8efff798038103d269b633813fc60c"
CHAIN = [
    "POST /orders",
    "send orders",
    "process orders",
    "send orders-by-product",
    "process orders-by-product",
    "send enriched-orders",
    "process enriched-orders",
]


@pytest.fixture
def monitored(
    pipeline_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Stack, MonitoringStack]]:
    """``up --monitoring`` on free ports (the registry of pipeline_env stays the registry)."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")  # export within 0.2 s, not 5 s
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    settings = pipeline_settings.model_copy(update={"home": tmp_path / "home"})
    ports = MonitoringPorts(
        free_port(), free_port(), free_port(), jaeger=free_port(), jaeger_grpc=free_port(),
        jaeger_otlp=free_port(),
    )  # fmt: skip
    services = tuple(
        ServiceSpec(s.name, s.args, free_port(), s.ready_path)
        for s in SERVICES
        if s.name != "registry"
    )
    part = MonitoringPart(settings, ports)
    stack = Stack(settings, services, optional=("monitoring",), parts={"monitoring": part})
    lines: list[str] = []
    try:
        stack.up(lines.append, timeout_s=120)
        yield stack, MonitoringStack(settings, ports)
    finally:
        stack.down(lines.append)
    assert part.processes() == [], lines


def _ps_json(home: Path) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "ORDERSTREAM_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "ps", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {row["name"]: row for row in json.loads(done.stdout)}


def _trace(stack: MonitoringStack, trace_id: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{stack.jaeger_url}/api/traces/{trace_id}", timeout=10)
    if answer.status_code != 200:
        return None
    data = answer.json()["data"]
    assert len(data) == 1, data  # one trace
    return dict(data[0])


def _scrape_jobs(stack: MonitoringStack, wanted: set[str], timeout_s: float = 60) -> set[str]:
    """Prometheus' active scrape jobs, once they include ``wanted`` (or at the deadline): a
    Prometheus that has just started lists no targets until its discovery has synced."""
    deadline = time.monotonic() + timeout_s
    while True:
        scraped = httpx.get(f"{stack.prometheus_url}/api/v1/targets", timeout=10).json()
        jobs = {t["labels"]["job"] for t in scraped["data"]["activeTargets"]}
        if wanted <= jobs or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def _wait_for_chain(stack: MonitoringStack, trace_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    trace: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        trace = _trace(stack, trace_id)
        names = {s["operationName"] for s in (trace or {}).get("spans", [])}
        if set(CHAIN) <= names and _consumers(trace, CHAIN[-1]) >= {"analytics", "payments"}:
            return trace  # type: ignore[return-value]
        time.sleep(0.5)
    raise AssertionError(f"trace {trace_id} never held {CHAIN}: {trace}")


def _consumers(trace: dict[str, Any] | None, operation: str) -> set[str]:
    """The services with a span named ``operation`` in ``trace``."""
    if not trace:
        return set()
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    return {services[s["processID"]] for s in trace["spans"] if s["operationName"] == operation}


def _causal_chain(trace: dict[str, Any], last: str, service: str) -> list[tuple[str, str]]:
    """(operation, service) from the root down to the span named ``last`` of ``service``
    (analytics and payments both consume enriched-orders, each with a span of that name)."""
    spans = {s["spanID"]: s for s in trace["spans"]}
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    (span,) = [
        s
        for s in spans.values()
        if s["operationName"] == last and services[s["processID"]] == service
    ]
    chain = []
    while span is not None:
        chain.append((span["operationName"], services[span["processID"]]))
        parents = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
        span = spans.get(parents[0]) if parents else None
    return chain[::-1]


def test_up_monitoring_traces_an_order_across_the_pipeline_and_its_logs_name_it(
    monitored: tuple[Stack, MonitoringStack], pipeline_settings: Settings
) -> None:
    stack, jaeger = monitored
    ps = _ps_json(stack.settings.home)
    ports = jaeger.ports
    expected = {
        "jaeger": ports.jaeger,
        "prometheus": ports.prometheus,
        "alertmanager": ports.alertmanager,
        "lag-exporter": ports.lag_exporter,
    }
    assert {name: ps[name]["port"] for name in expected} == expected
    assert all(ps[name]["alive"] for name in expected)
    wanted = {"orders", "enrichment", "analytics", "payments", "lag-exporter"}
    assert wanted <= _scrape_jobs(jaeger, wanted)

    seed_catalog(pipeline_settings, 10, 100)
    by_name = {s.name: s for s in stack.services}
    (order,) = build_orders(LoadSpec(count=1, rate=0, products=10, seed=11))
    answer = httpx.post(
        f"http://127.0.0.1:{by_name['orders'].port}/orders",
        json=order_json(order),
        headers={"traceparent": TRACEPARENT},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text

    trace = _wait_for_chain(jaeger, TRACE_ID)
    assert _causal_chain(trace, "process enriched-orders", "analytics") == [
        ("POST /orders", "orders"),
        ("send orders", "orders"),
        ("process orders", "enrichment"),
        ("send orders-by-product", "enrichment"),
        ("process orders-by-product", "enrichment"),
        ("send enriched-orders", "enrichment"),
        ("process enriched-orders", "analytics"),
    ]
    # payments, the other consumer of enriched-orders, continues the same trace
    assert _causal_chain(trace, "process enriched-orders", "payments")[-1] == (
        "process enriched-orders",
        "payments",
    )
    process = next(s for s in trace["spans"] if s["operationName"] == "process orders")
    tags = {t["key"]: t["value"] for t in process["tags"]}
    assert tags["messaging.system"] == "kafka"
    assert tags["messaging.consumer.group.name"] == "enrichment"
    assert tags["messaging.kafka.message.key"] == order.order_id

    # A record that cannot be decoded goes to the DLQ; the warning names its trace and order.
    producer = Producer({"bootstrap.servers": pipeline_settings.bootstrap_servers})
    poison_headers = [
        ("traceparent", f"00-{POISON_TRACE_ID}-b7ad6b7169203332-01".encode()),
        ("baggage", b"orderId=o-poison-1"),
    ]
    producer.produce("orders", b"not avro", b"o-poison-1", headers=poison_headers)
    assert producer.flush(30) == 0
    enrichment_log = stack.process(by_name["enrichment"]).log_file
    line = _wait_for_log(enrichment_log, "record sent to DLQ", POISON_TRACE_ID)
    assert line["orderId"] == "o-poison-1"
    assert len(line["span_id"]) == 16
    poison = _wait_for_span(jaeger, POISON_TRACE_ID, "process orders")
    assert line["span_id"] == poison["spanID"]

    # The order's window closes (punctuation): its order-stats record continues the trace.
    _wait_for_span(jaeger, TRACE_ID, "send order-stats")
    trace = _trace(jaeger, TRACE_ID)
    assert trace is not None
    assert _causal_chain(trace, "send order-stats", "analytics")[-3:] == [
        ("send enriched-orders", "enrichment"),
        ("process enriched-orders", "analytics"),
        ("send order-stats", "analytics"),
    ]


def _wait_for_log(log_file: Path, event: str, trace_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for raw in log_file.read_text().splitlines():
            if not raw.startswith("{"):
                continue
            line = json.loads(raw)
            if line.get("event") == event and line.get("trace_id") == trace_id:
                return dict(line)
        time.sleep(0.5)
    raise AssertionError(f"no {event!r} line with trace_id {trace_id} in {log_file}")


def _wait_for_span(stack: MonitoringStack, trace_id: str, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for span in (_trace(stack, trace_id) or {}).get("spans", []):
            if span["operationName"] == name:
                return dict(span)
        time.sleep(0.5)
    raise AssertionError(f"no span {name!r} in trace {trace_id}")
