"""The orders API's Prometheus metrics (a registry per app, so tests can run several).

Under ``run orders --workers N`` every worker gets PROMETHEUS_MULTIPROC_DIR from its supervisor:
prometheus_client then keeps each worker's values in a file of that directory, and whichever
worker a scrape reaches answers with the sum over all of them (``MultiProcessCollector``).
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "orders_accepted_total", "orders durably written", registry=self.registry
        )
        self.replayed = Counter(
            "orders_replayed_total",
            "retries answered 202 from the idempotency ledger, without writing again",
            registry=self.registry,
        )
        self.refused = Counter(
            "orders_refused_total",
            "orders refused, by reason: invalid, too_large, conflict, unavailable",
            ["reason"],
            registry=self.registry,
        )
        self.ack_latency = Histogram(
            "orders_ack_latency_seconds",
            "time from produce to Kafka's delivery report",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        # One sample per serving process (labelled by pid under --workers): a scrape shows
        # how many workers it sums over.
        self.started = Gauge(
            "orders_worker_started_seconds",
            "when each serving process started (unix time)",
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        self.started.set(time.time())

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's metrics, or those of every worker."""
        shared = os.environ.get(MULTIPROC_ENV)
        if not shared:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def accept(self, latency: float) -> None:
        self.accepted.inc()
        self.ack_latency.observe(latency)

    def refuse(self, reason: str) -> None:
        self.refused.labels(reason).inc()
