"""The repo's alert rules under real faults, in a real Prometheus and Alertmanager.

One pipeline under load (orders API and a real ``orderstream run enrichment`` process on a 3-node
cluster whose nodes carry the JMX exporter) is monitored with the shipped rules, their ``for:``
durations unchanged, and Alertmanager routes to a webhook receiver this module runs. First every
rule and Grafana expression must return data under load, and /api/v1/rules lists the rules,
one of them on lag in seconds (this stack serves what tests/integration/monitoring/test_stack.py
used to start a stack of its own for). Then two faults at once, so that both
``for: 1m`` waits overlap: enrichment is SIGSTOPped (``ConsumerLagHigh`` must reach the webhook,
and after SIGCONT its resolution) and one broker of three is killed (``KafkaBrokerDown`` and
``KafkaUnderReplicatedPartitions`` must reach it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from orderstream.config import Settings, load_settings
from orderstream.kafka.watchdog import EXIT_HUNG
from orderstream.monitoring.ports import MonitoringPorts
from orderstream.monitoring.rules import RULES_FILE
from orderstream.monitoring.stack import MonitoringStack, Routing, ScrapeTarget
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.load import LoadSpec, build_orders, order_json
from orderstream.ops.seed import seed_catalog
from orderstream.platform import ports
from orderstream.platform.cluster import cluster_up, restart_dead_nodes, wait_ready
from orderstream.platform.install import install_kafka
from orderstream.platform.nodes import make_spec
from orderstream.testing.cluster import LocalCluster, free_port_pairs
from orderstream.testing.registry import running_registry

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "orderstream.json"
KILLED_NODE = 3
# Expressions with no series on a healthy pipeline under load, and why that is right:
QUIET = {
    # the refused-orders counter has a series per reason, created by the first refusal
    'sum by (job) (rate(orders_refused_total{reason="unavailable"}[1m]))': "no 503s when healthy",
    "sum by (reason) (rate(orders_refused_total[1m]))": "no order is refused when healthy",
    # committed offsets must stand still for 5 minutes: a stall, which a healthy run has not
    "ConsumerGroupStalled": "no group has stood still for 5 minutes",
}
_THRESHOLD = re.compile(r"^(?P<measure>.+?)\s*(>|<|==)\s*[0-9.]+$", re.DOTALL)


@dataclass
class Webhook:
    """The alerts Alertmanager posts to us, one dict per alert (its ``status`` and ``labels``)."""

    url: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, alertname: str, status: str, **labels: str) -> bool:
        with self.lock:
            return any(
                a["status"] == status
                and a["labels"].get("alertname") == alertname
                and all(a["labels"].get(k) == v for k, v in labels.items())
                for a in self.alerts
            )

    def names(self) -> list[tuple[str, str]]:
        with self.lock:
            return sorted({(a["labels"]["alertname"], a["status"]) for a in self.alerts})


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with hook.lock:
                hook.alerts.extend(body["alerts"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:  # keep pytest's output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", ports.free_port()), Handler)
    hook.url = f"http://127.0.0.1:{server.server_port}/alerts"
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def jmx_cluster(home: Path) -> Iterator[tuple[LocalCluster, tuple[int, ...]]]:
    """Three nodes on free ports, each with the JMX exporter on a free port of its own."""
    dist, _ = install_kafka(load_settings().cache_dir)
    pairs = free_port_pairs(3)
    taken = {p for pair in pairs for p in pair}
    for _ in range(3):
        taken.add(ports.free_port(taken))
    jmx = tuple(sorted(taken - {p for pair in pairs for p in pair}))
    spec = make_spec(home, 3, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs), jmx_ports=jmx)
    cluster = LocalCluster(bootstrap=spec.bootstrap, spec=spec, dist=dist)
    try:
        cluster.spec = cluster_up(dist, spec, timeout=180).spec
        yield cluster, jmx
    finally:
        cluster.stop()


@dataclass
class Load:
    """Orders posted to the API at ``rate`` per second from a thread, until ``stop``."""

    url: str
    rate: float = 25.0
    accepted: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        orders = build_orders(LoadSpec(count=20_000, rate=0, products=10, seed=12))
        with httpx.Client(timeout=10) as client:
            for order in orders:
                if self._stop.wait(1 / self.rate):
                    return
                with contextlib.suppress(httpx.HTTPError):  # counted: only 202s are load
                    answer = client.post(f"{self.url}/orders", json=order_json(order))
                    self.accepted += answer.status_code == 202

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Monitored:
    cluster: LocalCluster
    stack: MonitoringStack
    enrichment: ServiceHandle
    hook: Webhook
    jmx_ports: tuple[int, ...]
    load: Load


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    home = tmp_path_factory.mktemp("alerts")
    with contextlib.ExitStack() as stack:
        cluster, jmx = stack.enter_context(jmx_cluster(home / "kafka"))
        cluster.create_topic("_schemas", partitions=1, config={"cleanup.policy": "compact"})
        registry = stack.enter_context(running_registry(cluster.bootstrap))
        settings = Settings(bootstrap_servers=cluster.bootstrap, registry_url=registry, home=home)
        harness = PipelineHarness(settings, home / "run")
        stack.callback(harness.stop_all)
        harness.prepare()
        seed_catalog(settings, 10, 1_000_000)
        orders, enrichment = harness.start_orders(), harness.start_enrichment()
        stack.callback(_signal, enrichment, signal.SIGCONT)  # never leave it stopped
        hook = stack.enter_context(webhook_receiver())
        monitoring = _monitoring(settings, orders, enrichment, registry, jmx, hook)
        stack.callback(monitoring.stop, lambda _line: None)
        monitoring.start(lambda _line: None)
        load = Load(orders.url)
        loader = threading.Thread(target=load.run, name="load", daemon=True)
        loader.start()
        stack.callback(loader.join, 30)
        stack.callback(load.stop)
        yield Monitored(cluster, monitoring, enrichment, hook, jmx, load)


def _signal(handle: ServiceHandle, sig: signal.Signals) -> None:
    """SIGSTOP/SIGCONT, returning at once (``ServiceHandle.kill`` waits for the process to die)."""
    pid = handle.pid
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _monitoring(
    settings: Settings,
    orders: ServiceHandle,
    enrichment: ServiceHandle,
    registry_url: str,
    jmx: tuple[int, ...],
    hook: Webhook,
) -> MonitoringStack:
    targets = [
        ScrapeTarget("orders", (orders.spec.port,)),
        ScrapeTarget("enrichment", (enrichment.spec.port,)),
        ScrapeTarget("registry", (int(registry_url.rsplit(":", 1)[1]),)),
        ScrapeTarget("kafka", jmx, interval_s=5),  # see ScrapeTarget.interval_s
    ]
    return MonitoringStack(
        settings,
        MonitoringPorts(ports.free_port(), ports.free_port(), ports.free_port()),
        targets=targets,
        webhook_url=hook.url,
        interval_s=1,
        routing=Routing(group_wait_s=1, group_interval_s=2),  # the rules' for: stay as shipped
    )


def _query(stack: MonitoringStack, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def _wait(
    what: str, done: Callable[[], bool], timeout_s: float, state: Callable[[], object] = str
) -> None:
    """Until ``done()``; on timeout the error shows ``state()`` (what was there instead)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout_s:.0f} s; {state()}")
        time.sleep(0.5)


def _expressions() -> dict[str, str]:
    """name -> PromQL: each rule without its threshold (its measure, which must have data) and
    each Grafana target with Grafana's ``$__rate_interval`` made concrete."""
    exprs: dict[str, str] = {}
    for group in yaml.safe_load(RULES_FILE.read_text())["groups"]:
        for rule in group["rules"]:
            found = _THRESHOLD.match(rule["expr"].strip())
            exprs[rule["alert"]] = found["measure"] if found else rule["expr"]
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "1m")
            exprs[f"{panel['title']}: {expr}"] = expr
    return exprs


def test_queries_return_data_under_load(monitored: Monitored) -> None:
    stack = monitored.stack
    _wait("enrichment consumes", lambda: bool(_query(stack, _consumed_rate())), 120)
    exprs = _expressions()
    assert len(exprs) == 10 + 20  # every rule and every dashboard target
    quiet = {name for name, expr in exprs.items() if name in QUIET or expr in QUIET}
    assert len(quiet) == len(QUIET), (quiet, QUIET)
    for name, expr in exprs.items():
        if name in quiet:
            _query(stack, expr)  # runs without error
            continue
        _wait(f"{name} returns data", lambda e=expr: bool(_query(stack, e)), 60)  # type: ignore[misc]
    assert monitored.load.accepted > 0


def _supervise(handle: ServiceHandle) -> bool:
    """What ``orderstream up``'s supervisor does, which the harness does not: restart an
    instance that exited with EXIT_HUNG. Stopped for over a minute, enrichment's transaction
    timed out inside librdkafka; on SIGCONT its watchdog ends it so that a new producer fences
    that transaction (``orderstream.kafka.watchdog``). Any other exit fails the test."""
    if handle.alive():
        return True
    exited = handle.process.exit_description()
    assert exited == f"exit code {EXIT_HUNG}", (exited, handle.process.log_tail())
    handle.restart()
    return True


def _diagnosis(monitored: Monitored) -> dict[str, object]:
    """What the webhook got, and what Prometheus sees of the brokers and of enrichment's lag."""
    values = {
        expr: [
            (r["metric"].get("instance", ""), r["value"][1]) for r in _query(monitored.stack, expr)
        ]
        for expr in (
            'scrape_duration_seconds{job="kafka"}',
            "kafka_server_replicamanager_underreplicatedpartitions",
            'kafka_consumergroup_group_lag_seconds{group="enrichment"}',
        )
    }
    return {"webhook": monitored.hook.names(), **values}


def test_rules_are_loaded_one_on_lag_in_seconds(monitored: Monitored) -> None:
    stack = monitored.stack
    answer = httpx.get(f"{stack.prometheus_url}/api/v1/rules", timeout=10).json()
    rules = [r for g in answer["data"]["groups"] for r in g["rules"]]
    assert len(rules) == 10
    assert all(r["health"] != "err" for r in rules), rules
    on_seconds = [r for r in rules if "kafka_consumergroup_group_lag_seconds" in r["query"]]
    assert [r["name"] for r in on_seconds] == ["ConsumerLagHigh"]
    alertmanagers = httpx.get(f"{stack.prometheus_url}/api/v1/alertmanagers", timeout=10)
    active = alertmanagers.json()["data"]["activeAlertmanagers"]
    assert [a["url"] for a in active] == [f"{stack.alertmanager_url}/api/v2/alerts"]


def _consumed_rate() -> str:
    return 'rate(orderstream_records_in_total{job="enrichment"}[1m]) > 0'


def test_lag_and_broker_alerts_fire_and_the_lag_alert_resolves(monitored: Monitored) -> None:
    stack, hook, cluster = monitored.stack, monitored.hook, monitored.cluster
    assert cluster.spec is not None and cluster.dist is not None
    lag = {"group": "enrichment", "topic": "orders"}
    _wait("enrichment consumes", lambda: bool(_query(stack, _consumed_rate())), 120)
    assert hook.names() == []  # a healthy pipeline raises nothing
    dead = f"127.0.0.1:{monitored.jmx_ports[KILLED_NODE - 1]}"
    try:
        _signal(monitored.enrichment, signal.SIGSTOP)
        cluster.kill(KILLED_NODE)
        _wait(
            "the lag and broker alerts at the webhook",
            lambda: hook.received("ConsumerLagHigh", "firing", **lag)
            and hook.received("KafkaBrokerDown", "firing", instance=dead)
            and hook.received("KafkaUnderReplicatedPartitions", "firing"),
            300,
            lambda: _diagnosis(monitored),
        )
    finally:
        _signal(monitored.enrichment, signal.SIGCONT)
        restart_dead_nodes(cluster.dist, cluster.spec)
    _wait(
        "ConsumerLagHigh resolved at the webhook",
        lambda: _supervise(monitored.enrichment)
        and hook.received("ConsumerLagHigh", "resolved", **lag),
        180,
        lambda: _diagnosis(monitored),
    )
    wait_ready(cluster.spec, 120)
    assert monitored.enrichment.alive()
    assert _query(stack, _consumed_rate())  # it consumes again
