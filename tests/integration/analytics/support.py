"""Helpers for analytics tests on the real broker: topics, a producer of EnrichedOrders, the
analytics process, and the expected windows replayed from what the topic really holds."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from confluent_kafka import Producer

from orderstream.config import Role, Settings, kafka_config
from orderstream.ops.topics_reader import TopicFollower, read_topic
from orderstream.serde import EnrichedOrder, EventSerde
from orderstream.services.analytics.events import AnalyticsTopics, OrderStats, facts_of
from orderstream.services.analytics.windows import WindowAggregate, WindowedPartition, WindowSpec
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.registry import free_port

PARTITIONS = 3
SPEC = WindowSpec(size_ms=2_000, grace_ms=500)
CATEGORIES = ("books", "games", "garden", "music", "toys")


def create_topics(cluster: LocalCluster) -> AnalyticsTopics:
    """Fresh, prefixed analytics topics (and the input's DLQ) on the shared broker."""
    topics = AnalyticsTopics(prefix=f"a{uuid.uuid4().hex[:8]}-")
    cluster.create_topic(topics.enriched, partitions=PARTITIONS)
    cluster.create_topic(
        topics.changelog, partitions=PARTITIONS, config={"cleanup.policy": "compact"}
    )
    for name in (topics.stats, topics.alerts, topics.late, topics.enriched + ".dlq"):
        cluster.create_topic(name, partitions=1)
    # The payment inputs (issue 13) and their tallies' changelogs, which analytics also reads.
    for name in topics.payment_topics():
        cluster.create_topic(name, partitions=PARTITIONS)
    for name in (topics.paid + ".dlq", topics.failed + ".dlq"):
        cluster.create_topic(name, partitions=1)
    return topics


def make_order(i: int, ts: int, rng: random.Random, *, outlier: bool = False) -> EnrichedOrder:
    product = rng.randint(1, 50)
    quantity = 400 if outlier else rng.randint(1, 4)
    unit = 250_000 if outlier else 500 + product * 37
    reserved = rng.random() < 0.85
    return EnrichedOrder(
        order_id=f"O-{i:06d}-{uuid.uuid4().hex[:6]}",
        customer_id=f"C-{rng.randint(1, 300)}",
        product_id=f"P-{product:03d}",
        quantity=quantity,
        amount_cents=quantity * unit,
        currency="EUR",
        timestamp=ts,
        product_name=f"product {product}",
        category=CATEGORIES[product % len(CATEGORIES)],
        status="RESERVED" if reserved else "REJECTED",
        reject_reason=None if reserved else "insufficient stock",
        stock_after=rng.randint(0, 100),
        enriched_at=ts + rng.randint(2, 80),
    )


@dataclass
class OrderFeed:
    """Produces EnrichedOrders straight to the (prefixed) enriched-orders topic."""

    settings: Settings
    topics: AnalyticsTopics
    serde: EventSerde
    base_ms: int = field(default_factory=lambda: int(time.time() * 1000) - 60_000)
    rng: random.Random = field(default_factory=lambda: random.Random(20261127))
    sent: int = 0
    outliers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.producer = Producer(
            kafka_config(Role.PRODUCER, "analytics-test", settings=self.settings)
        )

    def produce(self, count: int, rate_per_s: float | None = None) -> None:
        """``count`` orders, 2 ms of event time apart with jitter; every 997th is 5 s late."""
        started = time.monotonic()
        for _ in range(count):
            i = self.sent
            ts = self.base_ms + i * 2 + self.rng.randint(-150, 150)
            if i % 997 == 996:
                ts -= 5_000
            outlier = i % 2_503 == 2_000
            order = make_order(i, ts, self.rng, outlier=outlier)
            if outlier:
                self.outliers.append(order.order_id)
            self._send(order, i % PARTITIONS)
            self.sent += 1
            if rate_per_s and self.sent % 200 == 0:
                ahead = self.sent / rate_per_s - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        self.producer.flush(30)

    def produce_live(self, seconds: float, rate_per_s: float, stop: threading.Event) -> None:
        """Orders stamped with the wall clock, like real traffic; every 500th is an outlier."""
        started = time.monotonic()
        while time.monotonic() - started < seconds and not stop.is_set():
            i = self.sent
            order = make_order(i, int(time.time() * 1000), self.rng, outlier=i % 500 == 499)
            self._send(order, i % PARTITIONS)
            self.sent += 1
            ahead = self.sent / rate_per_s - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        self.producer.flush(30)

    def close_windows(self) -> None:
        """One order per partition far ahead in event time: every earlier window closes."""
        ts = self.base_ms + self.sent * 2 + 600_000
        for partition in range(PARTITIONS):
            self._send(make_order(10**6 + partition, ts, self.rng), partition)
        self.producer.flush(30)

    def _send(self, order: EnrichedOrder, partition: int) -> None:
        value = self.serde.encode(self.topics.enriched, order)
        while True:
            try:
                self.producer.produce(
                    self.topics.enriched, value, order.order_id.encode(), partition=partition
                )
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)


@dataclass
class Expected:
    """What analytics must emit, replayed from the topic with the pure window logic."""

    closed: dict[tuple[int, int], WindowAggregate]
    late_ids: set[str]
    total: int


def expected_windows(settings: Settings, topics: AnalyticsTopics, serde: EventSerde) -> Expected:
    parts = {p: WindowedPartition(SPEC) for p in range(PARTITIONS)}
    closed: dict[tuple[int, int], WindowAggregate] = {}
    records = sorted(read_topic(settings, topics.enriched), key=lambda r: (r.partition, r.offset))
    for record in records:
        order = serde.decode(record.value)
        part = parts[record.partition]
        part.add(facts_of(order))
        for window in part.close_due():
            closed[(window.start_ms, record.partition)] = window
    late = {o.order_id for p in parts.values() for o in p.late}
    return Expected(closed, late, len(records))


class StatsReader:
    """Follows order-stats (read_committed) and decodes what arrives."""

    def __init__(self, settings: Settings, topics: AnalyticsTopics, serde: EventSerde) -> None:
        self._follower = TopicFollower(settings, topics.stats)
        self._serde = serde
        self.records: list[OrderStats] = []

    def read(self) -> list[OrderStats]:
        self.records += [self._serde.decode(r.value) for r in self._follower.catch_up(30)]
        return self.records

    def wait_for(self, count: int, timeout_s: float, proc: AnalyticsProcess) -> list[OrderStats]:
        deadline = time.monotonic() + timeout_s
        while len(self.read()) < count:
            assert proc.alive(), f"analytics exited:\n{proc.log_tail()}"
            assert (
                time.monotonic() < deadline
            ), f"{len(self.records)} of {count} windows after {timeout_s}s:\n{proc.log_tail()}"
            time.sleep(0.3)
        return self.records

    def close(self) -> None:
        self._follower.close()


@dataclass
class AnalyticsProcess:
    """``orderstream run analytics`` as a child process (its own session, log in a file)."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, size: int = 3_000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-size:]
        return ""

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.alive(), f"analytics exited:\n{self.log_tail()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise AssertionError(f"analytics not ready after {timeout_s}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """kill -9: no transaction finished, no group left."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def start_analytics(
    settings: Settings,
    topics: AnalyticsTopics,
    home: Path,
    *,
    idle_close_ms: int = 0,
    spec: WindowSpec = SPEC,
    instance_id: str = "0",
    payments_metrics_url: str = "",
) -> AnalyticsProcess:
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "orderstream.cli", "run", "analytics", "--port", str(port)]
    argv += ["--instance-id", instance_id]
    argv += ["--topic-prefix", topics.prefix, "--window-ms", str(spec.size_ms)]
    argv += ["--grace-ms", str(spec.grace_ms), "--idle-close-ms", str(idle_close_ms)]
    argv += ["--log-level", "WARNING", "--payments-metrics-url", payments_metrics_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")}
    env |= {
        "ORDERSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "ORDERSTREAM_REGISTRY_URL": settings.registry_url,
        "ORDERSTREAM_HOME": str(home),
    }
    log = home / f"analytics-{instance_id}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return AnalyticsProcess(proc, port, log)


@contextlib.contextmanager
def running_analytics(
    settings: Settings, topics: AnalyticsTopics, home: Path, **kwargs: int | str
) -> Iterator[AnalyticsProcess]:
    process = start_analytics(settings, topics, home, **kwargs)  # type: ignore[arg-type]
    try:
        yield process
    finally:
        process.stop()


def assert_exact(expected: Expected, stats: list[OrderStats]) -> None:
    """Every closed window emitted once, with exactly the replayed totals."""
    keys = [(s.window_start, s.partition) for s in stats]
    assert len(keys) == len(set(keys)), "a window was emitted twice"
    assert set(keys) == set(expected.closed), (
        f"missing {sorted(set(expected.closed) - set(keys))[:5]}, "
        f"unexpected {sorted(set(keys) - set(expected.closed))[:5]}"
    )
    for record in stats:
        want = expected.closed[(record.window_start, record.partition)]
        have = record.aggregate()
        assert have.core_json() == want.core_json(), (record.window_start, record.partition)
        assert have.product_orders == want.product_orders
        assert [(p["productId"], p["orders"]) for p in record.top_products] == want.top_products()
