"""The registry's Prometheus metrics: requests by route, method and status, their latency, and
what the registry holds (subjects, schema ids, versions), read from the state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orderstream.registry.state import RegistryState

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "unmatched"  # 404s and 405s: the label must not take the raw path (cardinality)


class _StateCollector(Collector):
    def __init__(self, state: RegistryState) -> None:
        self._state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._state.lock:
            subjects = [
                s
                for s, vs in self._state.subjects.items()
                if any(not v.deleted for v in vs.values())
            ]
            versions = sum(
                1 for vs in self._state.subjects.values() for v in vs.values() if not v.deleted
            )
            ids = len(self._state.by_id)
        yield GaugeMetricFamily("registry_subjects", "Subjects with a live version", len(subjects))
        yield GaugeMetricFamily(
            "registry_schema_versions", "Live (subject, version) pairs", versions
        )
        yield GaugeMetricFamily("registry_schema_ids", "Schema ids ever assigned", ids)


class RegistryMetrics:
    """One registry per app, served on ``GET /metrics``."""

    def __init__(self, state: RegistryState) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "registry_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "registry_request_duration_seconds",
            "Time to answer a request",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(state))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
