"""The pipeline benchmark behind ``orderstream bench pipeline``; it prints figures, not verdicts.

On a fresh local 1-node cluster, in one run:

1. the raw Python ceiling of ``bench runtime`` (consume + produce, no decoding), as reference;
1b. the orders API's sustained accepted orders/s (acks=all), single orders and batches, while
   its view's topics are still small; its orders are then deleted from ``orders``;
2. enrichment throughput: ``orders`` pre-loaded with N orders after the seed (ample stock),
   then one enrichment instance (exactly-once, 100 ms commits) drains them; timed from its
   first to its last committed EnrichedOrder. Every order must come out RESERVED, or the
   benchmark fails (``BenchOutcomeError``): a figure of the all-rejected path measures nothing;
2b. the same drain in-process twice, without and with the stage-1 dedupe store (topics of their
   own, the same ``orders``), alternating, best of each: the store's cost per order;
3. one and two instances: the enrichment drain again with two processes, and analytics'
   EOS drain of a backlog with one (``analytics_eos_events_per_s``) and with two;
4. with enrichment and analytics running together, direct load into ``orders``:
   end-to-end latency at fixed rates (produce -> EnrichedOrder readable, p50..p99.9, max),
   then the sustainable throughput (``bench.search``: every group's lag bounded and window-close
   p99 <= 1 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import OFFSET_END, TopicPartition
from confluent_kafka.admin import AdminClient

from orderstream.bench import search
from orderstream.bench.instances import analytics_drain, enrichment_drain
from orderstream.bench.runtime import RuntimeBench
from orderstream.bench.stage1 import Stage1Bench, count_outcomes, require_all_reserved
from orderstream.bench.sustained import ANALYTICS_OPTIONS, PRODUCTS, DirectSteps, summary_ms
from orderstream.config import Role, Settings, kafka_config
from orderstream.kafka.offsets import partitions_of
from orderstream.naming import prefixed
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.load import LoadSpec, build_orders, load_over_http
from orderstream.ops.seed import seed_catalog
from orderstream.services.topics import ORDERS
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import produce_inputs

Progress = Callable[[str], None]
API_BATCH = 500  # orders per POST /orders/batch

CRITERION = (
    "every consumer group's lag grows by at most "
    f"{search.GROWTH_LIMIT_S:g} s of input over a step (second half vs first), and analytics' "
    f"window-close p99 <= {search.CLOSE_P99_LIMIT_MS / 1000:g} s"
)


@dataclass(frozen=True)
class RunPlan:
    """What one run measures; every backlog scales with ``orders``."""

    orders: int = 200_000  # the enrichment drain's backlog
    rates: tuple[int, ...] = (1_000, 5_000, 10_000)  # end-to-end latency
    seconds: float = 10.0  # counted seconds per latency rate
    step_s: float = 10.0  # seconds per step of the sustainable search
    latency_commit_ms: int = 100

    @classmethod
    def quick(cls) -> RunPlan:
        """A run of a few minutes: small backlogs, short steps."""
        return cls(20_000, seconds=4, step_s=6)

    @property
    def analytics_events(self) -> int:
        return self.orders // 2

    @property
    def api_count(self) -> int:
        """Single orders for the API figure; five times as many go in batches."""
        return self.orders // 10


@dataclass
class Drain:
    orders: int = 0
    rps: float = 0.0
    wall_s: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    series: list[list[float]] = field(default_factory=list)


@dataclass
class PipelineFigures:
    plan: RunPlan
    ceiling_rps: float = 0.0
    drain: Drain = field(default_factory=Drain)
    stage1_rps: dict[str, float] = field(default_factory=dict)  # "without_store", "with_store"
    instances: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_s: dict[int, list[float]] = field(default_factory=dict)  # rate -> seconds
    offered_rps: dict[int, float] = field(default_factory=dict)
    sustainable: search.Search = field(default_factory=search.Search)
    api_rps: dict[str, float] = field(default_factory=dict)  # "single", "batch"

    @property
    def store_cost_us(self) -> float:
        """Extra time per order that the stage-1 dedupe store costs, in microseconds."""
        without, with_ = self.stage1_rps.get("without_store"), self.stage1_rps.get("with_store")
        return (1 / with_ - 1 / without) * 1e6 if without and with_ else 0.0

    def latency_ms(self) -> dict[str, dict[str, float | None]]:
        return {str(rate): summary_ms(lags) for rate, lags in self.latency_s.items()}

    def as_json(self) -> dict[str, object]:
        latency = self.latency_ms()
        return {
            "ceiling_rps": round(self.ceiling_rps),
            "enrichment_orders": self.drain.orders,
            "enrichment_eos_orders_per_s": round(self.drain.rps),
            "enrichment_wall_s": round(self.drain.wall_s, 2),
            "e2e_latency_ms": {  # the earlier shape, now from the direct runs
                rate: {
                    "p50": f["p50"],
                    "p99": f["p99"],
                    "max": f["max"],
                    "offered": self.offered_rps[int(rate)],
                }
                for rate, f in latency.items()
            },  # fmt: skip
            "api_single_orders_per_s": round(self.api_rps.get("single", 0)),
            "api_batch_orders_per_s": round(self.api_rps.get("batch", 0)),
            "api_batch_size": API_BATCH,
            "latency_commit_interval_ms": self.plan.latency_commit_ms,
            "enrichment_outcomes": self.drain.outcomes,
            "stage1_without_store_orders_per_s": round(self.stage1_rps.get("without_store", 0)),
            "stage1_with_store_orders_per_s": round(self.stage1_rps.get("with_store", 0)),
            "stage1_store_cost_us_per_order": round(self.store_cost_us, 1),
            "latency_ms": latency,
            "latency_offered_per_s": {str(r): v for r, v in self.offered_rps.items()},
            "sustainable_orders_per_s": self.sustainable.sustainable,
            "sustainable_criterion": CRITERION,
            "sustainable_steps": [step.as_json() for step in self.sustainable.steps],
            "analytics_eos_events_per_s": self.instances.get("analytics", {}).get("1", 0.0),
            "instances": self.instances,
            "throughput_series": self.drain.series,
        }


class PipelineBench:
    def __init__(
        self, cluster: LocalCluster, settings: Settings, run_dir: Path, progress: Progress
    ) -> None:
        self.cluster = cluster
        self.settings = settings
        self.run_dir = run_dir
        self.harness = PipelineHarness(settings, run_dir)
        self.say = progress

    def run(self, plan: RunPlan) -> PipelineFigures:
        figures = PipelineFigures(plan)
        figures.ceiling_rps = self.ceiling(plan.orders)
        seed_catalog(self.settings, PRODUCTS, 10_000_000)
        try:
            # the API first, while its view's topics are small: measured after the backlogs, its
            # figure would be the view catching up on a million records, not the request path
            api = self.harness.start_orders()
            self.api_throughput(api.url, plan.api_count, API_BATCH, figures)
            self._stop_services()
            empty_topic(self.settings, ORDERS)  # each drain reads its own backlog alone
            self.enrichment_throughput(plan.orders, figures)
            figures.stage1_rps = Stage1Bench(self.cluster, self.settings, self.say).run(plan.orders)
            self.instances(plan, figures)
            self.together(plan, figures)
        finally:
            self.harness.stop_all()
        return figures

    def ceiling(self, records: int) -> float:
        self.say(f"raw Python ceiling over {records:,} records")
        bench = RuntimeBench(self.cluster, records, 1_000, lambda *_a: None)
        produce_inputs(self.cluster.bootstrap, bench.input, records, keys=10_000)
        return bench.ceiling()

    def enrichment_throughput(self, count: int, figures: PipelineFigures) -> None:
        """The drain with one instance; every order must come out RESERVED."""
        run = enrichment_drain(self.harness, count, 1, self.say)
        d = figures.drain
        d.orders, d.rps, d.wall_s = len(run.arrivals.seen), run.orders_per_s, run.wall_s
        d.series = run.arrivals.series()
        d.outcomes = count_outcomes(self.settings)
        require_all_reserved(d.outcomes, count, "enrichment drain")
        figures.instances["enrichment"] = {"1": round(run.orders_per_s)}

    def instances(self, plan: RunPlan, figures: PipelineFigures) -> None:
        """Two enrichment instances over a new backlog; analytics with one and with two."""
        self._stop_services()
        run = enrichment_drain(self.harness, plan.orders, 2, self.say)
        figures.instances["enrichment"]["2"] = round(run.orders_per_s)
        self._stop_services()
        events = plan.analytics_events
        figures.instances["analytics"] = {
            str(n): round(analytics_drain(self.harness, events, n, self.say)) for n in (1, 2)
        }

    def together(self, plan: RunPlan, figures: PipelineFigures) -> None:
        """Enrichment and analytics running; latency at fixed rates, then the search."""
        self.say("starting enrichment and analytics together")
        self.harness.start_enrichment("bench", commit_interval_ms=plan.latency_commit_ms)
        self.harness.start_analytics(*ANALYTICS_OPTIONS)
        steps = DirectSteps(self.settings, self.say)
        for rate in plan.rates:
            steps.drained()
            figures.latency_s[rate], figures.offered_rps[rate] = steps.latency(rate, plan.seconds)
            figures.offered_rps[rate] = round(figures.offered_rps[rate])

        def measure(rate: int) -> search.Step:
            steps.drained()
            return steps.step(rate, plan.step_s)

        figures.sustainable = search.find_sustainable(measure)
        self._stop_services()

    def _stop_services(self) -> None:
        self.harness.stop_all()
        self.harness.handles.clear()

    def api_throughput(self, url: str, count: int, batch: int, figures: PipelineFigures) -> None:
        self.say(f"orders API: {count:,} single orders, as fast as accepted")
        single = LoadSpec(count=count, rate=0, products=PRODUCTS, url=url, seed=3)
        report = asyncio.run(load_over_http(single, build_orders(single, "api1"), lambda _n: None))
        figures.api_rps["single"] = report.rate
        self.say(f"orders API: {count * 5:,} orders in batches of {batch}")
        batched = LoadSpec(
            count=count * 5, rate=0, products=PRODUCTS, url=url, seed=4, batch=batch, concurrency=8
        )
        report = asyncio.run(
            load_over_http(batched, build_orders(batched, "apib"), lambda _n: None)
        )
        figures.api_rps["batch"] = report.rate


def empty_topic(settings: Settings, topic: str) -> None:
    """Delete every record of ``topic`` (its log start moves to its end): the orders the API
    figure wrote are not part of the backlogs the drains that follow read from the beginning."""
    topic = prefixed(settings.prefix, topic)
    admin = AdminClient(kafka_config(Role.ADMIN, "bench-empty", settings=settings))
    parts = [TopicPartition(topic, p, OFFSET_END) for p in partitions_of(admin, topic)]
    for future in admin.delete_records(parts, request_timeout=30).values():
        future.result(60)


__all__ = ["CRITERION", "PipelineBench", "PipelineFigures", "RunPlan"]
