"""``orderstream analytics bench``: throughput under EOS, window-close latency, dashboard delay.

It runs the real ``orderstream run analytics`` as a child process on fresh, prefixed topics of
the configured cluster and registry, and produces EnrichedOrders straight to its input:

1. throughput: a backlog of N orders is pre-produced; events/s is measured between the
   analytics group's first and last committed progress (start-up and restore excluded);
2. window-close latency at each offered rate: orders stamped with the wall clock, 2 s windows
   (grace 0.5 s); per window, from end + grace to the moment its last partition's record is
   readable (read_committed) in order-stats;
3. dashboard delay: one order at a time while idle, from produce to the ``/api/events`` update.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import PlatformError
from orderstream.serde import EnrichedOrder, EventSerde
from orderstream.services.analytics.events import APP_ID, AnalyticsTopics, OrderStats
from orderstream.services.analytics.windows import WindowSpec
from orderstream.stats import median, percentile

PARTITIONS = 6
BENCH_SPEC = WindowSpec(size_ms=2_000, grace_ms=500)
CATEGORIES = ("books", "games", "garden", "music", "toys")

Say = Callable[[str], None]


@dataclass
class BenchReport:
    throughput_events: int = 0
    throughput_s: float = 0.0
    close_latency: dict[int, list[float]] = field(default_factory=dict)  # rate -> seconds
    achieved_rate: dict[int, float] = field(default_factory=dict)
    dashboard_delay: list[float] = field(default_factory=list)
    # (seconds since the analytics process started, events committed so far) of the EOS run
    progress: list[tuple[float, int]] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.throughput_events / self.throughput_s if self.throughput_s else 0.0


def _order(rng: random.Random, ts: int) -> EnrichedOrder:
    product = rng.randint(1, 100)
    quantity = rng.randint(1, 4)
    reserved = rng.random() < 0.9
    return EnrichedOrder(
        order_id=uuid.uuid4().hex,
        customer_id=f"C-{rng.randint(1, 1000)}",
        product_id=f"P-{product:03d}",
        quantity=quantity,
        amount_cents=quantity * (300 + product * 41),
        currency="EUR",
        timestamp=ts,
        product_name=f"product {product}",
        category=CATEGORIES[product % len(CATEGORIES)],
        status="RESERVED" if reserved else "REJECTED",
        reject_reason=None if reserved else "insufficient stock",
        stock_after=rng.randint(0, 500),
        enriched_at=ts + rng.randint(2, 40),
    )


class Bench:
    """One benchmark run on its own topics; ``close()`` deletes them."""

    def __init__(self, settings: Settings, home: Path, say: Say) -> None:
        self.settings = settings
        self.home = home
        self.say = say
        self.topics = AnalyticsTopics(prefix=f"bench-{uuid.uuid4().hex[:6]}-")
        self.serde = EventSerde.from_settings(settings)
        self.admin = AdminClient(kafka_config(Role.ADMIN, "analytics-bench", settings=settings))
        self.producer = Producer(kafka_config(Role.PRODUCER, "analytics-bench", settings=settings))
        self.rng = random.Random(11)

    # -- set-up ---------------------------------------------------------------------------------
    def create_topics(self) -> None:
        t = self.topics
        specs = [NewTopic(t.enriched, PARTITIONS), NewTopic(t.enriched + ".dlq", 1)]
        specs.append(NewTopic(t.changelog, PARTITIONS, config={"cleanup.policy": "compact"}))
        specs += [NewTopic(name, 1) for name in (t.stats, t.alerts, t.late)]
        # analytics also reads the payment outcomes (issue 13): the bench leaves them empty
        specs += [NewTopic(name, PARTITIONS) for name in t.payment_topics()]
        specs += [NewTopic(name + ".dlq", 1) for name in (t.paid, t.failed)]
        for name, future in self.admin.create_topics(specs, operation_timeout=30).items():
            try:
                future.result(40)
            except Exception as exc:  # a timeout's message is empty: name the class and broker
                raise PlatformError(
                    f"cannot create bench topic {name} on {self.settings.bootstrap_servers}: "
                    f"{type(exc).__name__}: {exc or 'no answer'}; is Kafka running there? "
                    "(without --bootstrap the bench starts its own broker)"
                ) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            futures = self.admin.delete_topics([*self.topics.all(), self.topics.enriched + ".dlq"])
            for future in futures.values():
                future.result(30)
        self.serde.close()

    @contextlib.contextmanager
    def analytics(self, instance: str) -> Iterator[str]:
        """A running analytics process; yields its dashboard URL."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        argv = [sys.executable, "-m", "orderstream.cli", "run", "analytics", "--port", str(port)]
        argv += ["--topic-prefix", self.topics.prefix, "--instance-id", instance]
        argv += ["--window-ms", str(BENCH_SPEC.size_ms), "--grace-ms", str(BENCH_SPEC.grace_ms)]
        argv += ["--idle-close-ms", "1000", "--log-level", "WARNING"]
        env = dict(os.environ)
        env |= {
            "ORDERSTREAM_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "ORDERSTREAM_REGISTRY_URL": self.settings.registry_url,
            "ORDERSTREAM_HOME": str(self.home),
        }
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / f"analytics-{instance}.log").open("ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            self._wait_ready(proc, url)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def _wait_ready(self, proc: subprocess.Popen[bytes], url: str) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise PlatformError(f"analytics exited with {proc.returncode}; see {self.home}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise PlatformError("analytics did not become ready in 90 s")

    # -- producing ------------------------------------------------------------------------------
    def produce(self, count: int, rate: float | None, stamp: Callable[[int], int]) -> float:
        """Produce ``count`` orders (at ``rate``/s if given); returns the achieved rate."""
        return self.send((self._encode(stamp(i)) for i in range(count)), rate)

    def encoded(self, count: int, stamp: Callable[[int], int]) -> list[bytes]:
        """``count`` orders encoded ahead, for ``send`` to produce as fast as the broker takes."""
        return [self._encode(stamp(i)) for i in range(count)]

    def send(self, values: Iterable[bytes], rate: float | None = None) -> float:
        """Produce ``values`` (at ``rate``/s if given); returns the achieved rate."""
        started = time.monotonic()
        sent = 0
        for i, value in enumerate(values):
            while True:
                try:
                    self.producer.produce(self.topics.enriched, value, partition=i % PARTITIONS)
                    break
                except BufferError:
                    self.producer.poll(0.01)
            sent = i + 1
            if i % 500 == 0:
                self.producer.poll(0)
            # Pace in small steps: bursts would delay the record that closes a window.
            if rate and i % 20 == 0:
                ahead = i / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        self.producer.flush(60)
        return sent / (time.monotonic() - started)

    def _encode(self, timestamp_ms: int) -> bytes:
        return self.serde.encode(self.topics.enriched, _order(self.rng, timestamp_ms))

    # -- measuring ------------------------------------------------------------------------------
    def committed_total(self) -> int:
        group = self.topics.prefix + APP_ID
        futures = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        parts = futures[group].result(10).topic_partitions or []
        return sum(tp.offset for tp in parts if tp.offset > 0)

    def throughput(self, count: int, report: BenchReport) -> None:
        base = int(time.time() * 1000) - 3_600_000
        self.say(f"throughput: pre-producing {count:,} orders ...")
        self.produce(count, None, lambda i: base + i // 10)  # 10 orders per ms of event time
        with self.analytics("throughput"):
            first_t, first_n = 0.0, 0
            started = time.monotonic()
            deadline = started + 600
            while time.monotonic() < deadline:
                done = self.committed_total()
                now = time.monotonic()
                report.progress.append((now - started, done))
                if done > 0 and not first_t:
                    first_t, first_n = now, done
                if done >= count:
                    report.throughput_events = done - first_n
                    report.throughput_s = now - first_t
                    return
                time.sleep(0.2)
            raise PlatformError("analytics did not catch up with the backlog in 600 s")

    def close_latency(self, rates: list[int], seconds: float, report: BenchReport) -> None:
        spec = BENCH_SPEC
        with self.analytics("latency"):
            for rate in rates:
                self.say(f"window-close latency: {rate:,} orders/s for {seconds:.0f} s ...")
                reader = _StatsClock(self.settings, self.topics, self.serde)
                reader.start()
                t0 = time.time()
                report.achieved_rate[rate] = self.produce(
                    int(rate * seconds), rate, lambda _: int(time.time() * 1000)
                )
                first = spec.start_of(int(t0 * 1000)) + spec.size_ms  # whole windows only
                last = spec.start_of(int((t0 + seconds) * 1000)) - spec.size_ms
                wanted = set(range(first, last + 1, spec.size_ms))
                deadline = time.monotonic() + 120  # a saturated analytics catches up late
                while not reader.complete(wanted) and time.monotonic() < deadline:
                    time.sleep(0.5)
                reader.stop()
                report.close_latency[rate] = sorted(
                    reader.last_seen[start] - spec.closes_at(start) / 1000
                    for start in wanted & reader.last_seen.keys()
                )

    def dashboard_delay(self, samples: int, report: BenchReport) -> None:
        with self.analytics("dashboard") as url:
            feed = _Feed(url)
            feed.start()
            try:
                time.sleep(2)
                for _ in range(samples):
                    before = feed.orders
                    sent = time.monotonic()
                    self.produce(1, None, lambda _: int(time.time() * 1000))
                    seen = feed.wait_above(before, 10)
                    if seen is not None:
                        report.dashboard_delay.append(seen - sent)
                    time.sleep(0.5)
            finally:
                feed.stop()


class _StatsClock(threading.Thread):
    """Reads order-stats (read_committed); notes when each window's last record arrived."""

    def __init__(self, settings: Settings, topics: AnalyticsTopics, serde: EventSerde) -> None:
        super().__init__(daemon=True)
        conf = kafka_config(
            Role.CONSUMER,
            "analytics-bench",
            settings=settings,
            group_id=uuid.uuid4().hex,
            overrides={"fetch.wait.max.ms": 10, "auto.offset.reset": "latest"},
        )
        self._consumer = Consumer(conf)
        self._consumer.assign([TopicPartition(topics.stats, 0, -1)])  # -1: the end
        self._serde = serde
        self._halt = threading.Event()
        self.last_seen: dict[int, float] = {}  # window start -> when its last record came
        self.records: dict[int, int] = {}  # window start -> records (one per partition)

    def complete(self, starts: set[int]) -> bool:
        return all(self.records.get(s, 0) >= PARTITIONS for s in starts)

    def run(self) -> None:
        while not self._halt.is_set():
            for msg in self._consumer.consume(100, 0.05):
                if msg.error() is None:
                    stats = self._serde.decode(msg.value())
                    if isinstance(stats, OrderStats):
                        self.last_seen[stats.window_start] = time.time()
                        self.records[stats.window_start] = (
                            self.records.get(stats.window_start, 0) + 1
                        )
        self._consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


class _Feed(threading.Thread):
    """Follows the dashboard's server-sent events and the order count they show."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self._url = url
        self._changed = threading.Condition()
        self._halt = threading.Event()
        self.orders = 0
        self.seen_at = 0.0

    def run(self) -> None:
        import json

        with (
            contextlib.suppress(httpx.HTTPError),  # the service stops at the end of the run
            httpx.stream("GET", self._url + "/api/events", timeout=None) as response,
        ):
            for line in response.iter_lines():
                if self._halt.is_set():
                    return
                if line.startswith("data: "):
                    totals = json.loads(line[6:])["totals"]
                    with self._changed:
                        self.orders = totals["orders"] + totals["late"]
                        self.seen_at = time.monotonic()
                        self._changed.notify_all()

    def wait_above(self, count: int, timeout: float) -> float | None:
        with self._changed:
            if self._changed.wait_for(lambda: self.orders > count, timeout):
                return self.seen_at
        return None

    def stop(self) -> None:
        self._halt.set()


def throughput_series(progress: list[tuple[float, int]]) -> list[list[float]]:
    """[[second, events/s], ...]: committed events per whole second of the run, from the
    samples of the committed total (the last one at or before each second's end)."""
    series: list[list[float]] = []
    last_done, i = 0, 0
    for second in range(1, math.ceil(progress[-1][0]) + 1 if progress else 1):
        while i < len(progress) and progress[i][0] <= second:
            i += 1
        done = progress[i - 1][1] if i else 0
        series.append([second, float(done - last_done)])
        last_done = done
    return series


def report_json(report: BenchReport) -> dict[str, object]:
    """The figures as one JSON object (milliseconds for latencies)."""
    return {
        "events_per_s": round(report.events_per_s, 1),
        "throughput_events": report.throughput_events,
        "throughput_s": round(report.throughput_s, 3),
        "close_latency_ms": {
            str(rate): {
                "produced_per_s": round(report.achieved_rate.get(rate, 0.0), 1),
                "windows": len(lat),
                "p50": _ms(percentile(lat, 0.50)),
                "p95": _ms(percentile(lat, 0.95)),
                "p99": _ms(percentile(lat, 0.99)),
                "p999": _ms(percentile(lat, 0.999)),
                "max": _ms(max(lat, default=float("nan"))),
            }
            for rate, lat in report.close_latency.items()
        },
        "throughput_series": throughput_series(report.progress),
        "dashboard_delay_ms": {
            "samples": len(report.dashboard_delay),
            "p50": _ms(median(report.dashboard_delay)),
            "max": _ms(max(report.dashboard_delay, default=float("nan"))),
        },
    }


def _ms(seconds: float) -> float | None:
    """Milliseconds, or None (JSON null) when there was nothing to measure."""
    return None if math.isnan(seconds) else round(seconds * 1000, 1)
