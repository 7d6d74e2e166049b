"""The pipeline benchmark behind ``orderstream bench pipeline``; it prints figures, not verdicts.

On a fresh local 1-node cluster (or the one given), in one run:

1. the raw Python ceiling of ``bench runtime`` (consume + produce, no decoding), as reference;
2. enrichment throughput: ``orders`` pre-loaded with N orders after the seed (ample stock),
   then one enrichment instance (exactly-once, 100 ms commits) drains them; timed from its
   first to its last committed EnrichedOrder. Every order must come out RESERVED, or the
   benchmark fails (``BenchOutcomeError``): a figure of the all-rejected path measures nothing;
2b. the same drain in-process twice, without and with the stage-1 dedupe store (topics of their
   own, the same ``orders``), alternating, best of each: the store's cost per order;
3. end-to-end latency at fixed rates, from the HTTP 202 to the moment a read_committed consumer
   sees the order's EnrichedOrder;
4. the orders API's sustained accepted orders/s (acks=all), single orders and batches.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient

from orderstream.bench.runtime import RuntimeBench
from orderstream.bench.stage1 import Stage1Bench, count_outcomes, require_all_reserved
from orderstream.config import Role, Settings, kafka_config
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.load import LoadSpec, build_orders, load_direct, load_over_http
from orderstream.ops.seed import seed_catalog
from orderstream.ops.topics_reader import end_offsets, partitions_of
from orderstream.services.topics import ENRICHED_ORDERS
from orderstream.stats import percentile
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import produce_inputs

Progress = Callable[[str], None]
PRODUCTS = 1_000
WARMUP_S = 3


@dataclass
class PipelineFigures:
    ceiling_rps: float = 0.0
    enrichment_orders: int = 0
    enrichment_rps: float = 0.0
    enrichment_wall_s: float = 0.0
    latency_ms: dict[int, tuple[float, float, float]] = field(
        default_factory=dict
    )  # rate->p50,p99,max
    offered_rps: dict[int, float] = field(default_factory=dict)
    api_single_rps: float = 0.0
    api_batch_rps: float = 0.0
    api_batch_size: int = 0
    latency_commit_ms: int = 100
    enrichment_outcomes: dict[str, int] = field(default_factory=dict)
    stage1_rps: dict[str, float] = field(default_factory=dict)  # "without_store", "with_store"

    @property
    def store_cost_us(self) -> float:
        """Extra time per order that the stage-1 dedupe store costs, in microseconds."""
        without, with_ = self.stage1_rps.get("without_store"), self.stage1_rps.get("with_store")
        return (1 / with_ - 1 / without) * 1e6 if without and with_ else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "ceiling_rps": round(self.ceiling_rps),
            "enrichment_orders": self.enrichment_orders,
            "enrichment_eos_orders_per_s": round(self.enrichment_rps),
            "enrichment_wall_s": round(self.enrichment_wall_s, 2),
            "e2e_latency_ms": {
                str(rate): {"p50": p50, "p99": p99, "max": mx, "offered": self.offered_rps[rate]}
                for rate, (p50, p99, mx) in self.latency_ms.items()
            },
            "api_single_orders_per_s": round(self.api_single_rps),
            "api_batch_orders_per_s": round(self.api_batch_rps),
            "api_batch_size": self.api_batch_size,
            "latency_commit_interval_ms": self.latency_commit_ms,
            "enrichment_outcomes": self.enrichment_outcomes,
            "stage1_without_store_orders_per_s": round(self.stage1_rps.get("without_store", 0)),
            "stage1_with_store_orders_per_s": round(self.stage1_rps.get("with_store", 0)),
            "stage1_store_cost_us_per_order": round(self.store_cost_us, 1),
        }


class EnrichedArrivals:
    """Wall-clock time at which each orderId's EnrichedOrder became visible (read_committed)."""

    def __init__(self, settings: Settings, topic: str = ENRICHED_ORDERS) -> None:
        conf = kafka_config(
            Role.CONSUMER,
            "bench-arrivals",
            settings=settings,
            group_id=f"bench-{uuid.uuid4().hex[:6]}",
            overrides={"fetch.wait.max.ms": 5, "fetch.min.bytes": 1},
        )
        self._consumer = Consumer(conf)
        # Explicit offsets: OFFSET_END resolves lazily and would skip the first arrivals.
        admin = _admin(settings)
        parts = partitions_of(admin, topic)
        ends = end_offsets(admin, topic, parts, IsolationLevel.READ_UNCOMMITTED)
        self._consumer.assign([TopicPartition(topic, p, ends[p]) for p in parts])
        self.seen: dict[bytes, float] = {}
        self.first = 0.0
        self._running = True
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while self._running:
            for msg in self._consumer.consume(5000, 0.05):
                key = msg.key()
                if msg.error() is None and isinstance(key, bytes):
                    now = time.time()
                    if not self.first:
                        self.first = now
                    self.seen[key] = now

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self._running = False
        self._thread.join(5)
        self._consumer.close()


def _admin(settings: Settings) -> AdminClient:
    return AdminClient(kafka_config(Role.ADMIN, "bench", settings=settings))


class PipelineBench:
    def __init__(
        self, cluster: LocalCluster, settings: Settings, run_dir: Path, progress: Progress
    ) -> None:
        self.cluster = cluster
        self.settings = settings
        self.harness = PipelineHarness(settings, run_dir)
        self.say = progress

    def run(
        self,
        orders: int,
        rates: tuple[int, ...],
        seconds: int,
        api_count: int,
        batch: int,
        latency_commit_ms: int = 100,
    ) -> PipelineFigures:
        figures = PipelineFigures(latency_commit_ms=latency_commit_ms)
        figures.ceiling_rps = self.ceiling(orders)
        seed_catalog(self.settings, PRODUCTS, 10_000_000)
        try:
            drain = self.enrichment_throughput(orders, figures)
            figures.enrichment_outcomes = count_outcomes(self.settings)
            require_all_reserved(figures.enrichment_outcomes, orders, "enrichment drain")
            figures.stage1_rps = Stage1Bench(self.cluster, self.settings, self.say).run(orders)
            if latency_commit_ms != 100:
                drain.stop()
                self.harness.start_enrichment("bench", commit_interval_ms=latency_commit_ms)
            api = self.harness.start_orders()
            for rate in rates:
                self.latency_at(api.url, rate, seconds, figures)
            self.api_throughput(api.url, api_count, batch, figures)
        finally:
            self.harness.stop_all()
        return figures

    def ceiling(self, records: int) -> float:
        self.say(f"raw Python ceiling over {records:,} records")
        bench = RuntimeBench(self.cluster, records, 1_000, lambda *_a: None)
        produce_inputs(self.cluster.bootstrap, bench.input, records, keys=10_000)
        return bench.ceiling()

    def enrichment_throughput(self, count: int, figures: PipelineFigures) -> ServiceHandle:
        self.say(f"pre-loading {count:,} orders")
        spec = LoadSpec(count=count, rate=0, products=PRODUCTS, direct=True, seed=1)
        load_direct(spec, self.settings, build_orders(spec, "drain"), lambda _n: None)
        arrivals = EnrichedArrivals(self.settings)
        try:
            self.say("enrichment draining them (exactly-once, 100 ms commits, 1 instance)")
            began = time.time()
            instance = self.harness.start_enrichment("bench", wait=False)
            arrivals.wait_for(count, timeout_s=1_800)
            last = max(arrivals.seen.values(), default=time.time())
        finally:
            arrivals.close()
        figures.enrichment_orders = len(arrivals.seen)
        figures.enrichment_wall_s = last - began
        span = last - arrivals.first
        figures.enrichment_rps = len(arrivals.seen) / span if span > 0 else 0.0
        return instance

    def latency_at(self, url: str, rate: int, seconds: int, figures: PipelineFigures) -> None:
        """Offer ``rate`` orders/s for WARMUP_S + ``seconds``; only the last ``seconds`` count.

        The first seconds of a run are slower (first transactions, connections, caches) and
        would otherwise dominate the p99 of a short run.
        """
        self.say(f"end-to-end latency at {rate:,} orders/s for {WARMUP_S} + {seconds} s")
        count = rate * (WARMUP_S + seconds)
        spec = LoadSpec(count=count, rate=rate, products=PRODUCTS, url=url, seed=rate)
        orders = build_orders(spec, f"lat{rate}")
        arrivals = EnrichedArrivals(self.settings)
        try:
            report = asyncio.run(load_over_http(spec, orders, lambda _n: None))
            arrivals.wait_for(report.accepted, timeout_s=60)
        finally:
            arrivals.close()
        counted_from = min(report.acked_at.values(), default=0.0) + WARMUP_S
        lags = [
            (arrivals.seen[oid.encode()] - acked) * 1000
            for oid, acked in report.acked_at.items()
            if acked >= counted_from and oid.encode() in arrivals.seen
        ]
        figures.latency_ms[rate] = (
            round(percentile(lags or [0.0], 0.5), 1),
            round(percentile(lags or [0.0], 0.99), 1),
            round(max(lags, default=0.0), 1),
        )
        figures.offered_rps[rate] = round(report.rate)

    def api_throughput(self, url: str, count: int, batch: int, figures: PipelineFigures) -> None:
        self.say(f"orders API: {count:,} single orders, as fast as accepted")
        single = LoadSpec(count=count, rate=0, products=PRODUCTS, url=url, seed=3)
        report = asyncio.run(load_over_http(single, build_orders(single, "api1"), lambda _n: None))
        figures.api_single_rps = report.rate
        self.say(f"orders API: {count * 5:,} orders in batches of {batch}")
        batched = LoadSpec(
            count=count * 5, rate=0, products=PRODUCTS, url=url, seed=4, batch=batch, concurrency=8
        )
        report = asyncio.run(
            load_over_http(batched, build_orders(batched, "apib"), lambda _n: None)
        )
        figures.api_batch_rps = report.rate
        figures.api_batch_size = batch
