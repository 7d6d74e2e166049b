"""Load at a fixed rate through enrichment and analytics running together, straight to ``orders``.

``DirectSteps.offer`` produces ``rate * seconds`` orders with ``ops.load.load_direct`` (pre-encoded,
paced, acks=all). Each order's event time is its planned send time, so analytics' windows advance
with the wall clock as they would live; the offset between plan and the real start (the time the
encoding took) is measured and taken out of the window-close figures.

- ``latency``: from each order's produce time (its ``orders`` record's CreateTime) to its
  EnrichedOrder readable by a read_committed consumer; the first ``WARMUP_S`` not counted;
- ``step``: every group's lag over the step and analytics' window-close latency, for the
  sustainable-rate search (``bench.search``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from orderstream.bench.probes import Arrivals, LagSampler, WindowCloses, admin_for, record_time
from orderstream.bench.search import Step
from orderstream.config import Settings
from orderstream.ops.load import LoadReport, LoadSpec, build_orders, load_direct
from orderstream.ops.topics_reader import partitions_of
from orderstream.services.analytics.events import AnalyticsTopics
from orderstream.services.analytics.windows import WindowSpec
from orderstream.services.topics import ENRICHED_ORDERS, ORDERS
from orderstream.stats import latency_summary, percentile

PRODUCTS = 1_000
WARMUP_S = 2
SPEC = WindowSpec(size_ms=2_000, grace_ms=500)  # analytics runs with these in the bench
ANALYTICS_OPTIONS = ("--window-ms", "2000", "--grace-ms", "500", "--idle-close-ms", "1000")
ENCODE_S_PER_ORDER = 25e-6  # a guess at load_direct's encoding time, refined after each offer

Say = Callable[[str], None]


def summary_ms(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99, p99.9 and max of latencies in seconds, in milliseconds (None if empty)."""
    return latency_summary(values, scale=1000)


class DirectSteps:
    """Offers fixed rates to a running enrichment and analytics and measures what came out."""

    def __init__(self, settings: Settings, say: Say) -> None:
        self.settings = settings
        self.say = say
        self.encode_s = ENCODE_S_PER_ORDER
        self.stats_topic = AnalyticsTopics(prefix=settings.prefix).stats
        self._runs = 0
        self.planned = self.offset_s = 0.0

    def offer(self, rate: int, seconds: float) -> LoadReport:
        """``rate`` orders/s for ``seconds``, event times on the planned schedule.

        Sets ``offset_s``: the first produce (``LoadReport.started_at``) minus the plan.
        """
        self._runs += 1
        count = max(1, int(rate * seconds))
        spec = LoadSpec(count=count, rate=rate, products=PRODUCTS, direct=True, seed=self._runs)
        planned = time.time() + count * self.encode_s
        orders = [
            dataclasses.replace(o, timestamp=int((planned + i / rate) * 1000))
            for i, o in enumerate(build_orders(spec, f"r{rate}-{self._runs}"))
        ]
        report = load_direct(spec, self.settings, orders, lambda _n: None)
        # From the first send itself: the first ack less the quickest ack latency came out late
        # by the first produce's connection set-up (window closes of -140 ms at 5k/s).
        self.offset_s = report.started_at - planned
        self.encode_s = max(1e-6, self.encode_s + self.offset_s / count)
        self.planned = planned
        return report

    def latency(self, rate: int, seconds: float) -> tuple[list[float], float]:
        """Produce -> EnrichedOrder readable, in seconds, and the achieved rate."""
        self.say(f"end-to-end latency at {rate:,} orders/s, direct, {WARMUP_S} + {seconds:g} s")
        produced = Arrivals(self.settings, self.settings.named(ORDERS), record_time)
        arrivals = Arrivals(self.settings, self.settings.named(ENRICHED_ORDERS))
        try:
            report = self.offer(rate, WARMUP_S + seconds)
            produced.wait_for(report.accepted, timeout_s=30)
            arrivals.wait_for(report.accepted, timeout_s=60)
        finally:
            produced.close()
            arrivals.close()
        gave_up = time.time()
        counted_from = min(produced.seen.values(), default=0.0) + WARMUP_S
        # An order that never came out counts as out when the bench gave up waiting for it:
        # a lower bound, never left out of the percentiles.
        lags = [
            arrivals.seen.get(key, gave_up) - at
            for key, at in produced.seen.items()
            if at >= counted_from
        ]
        return lags, report.rate

    def step(self, rate: int, seconds: float) -> Step:
        """One step of the search: lags and window closes at ``rate`` for ``seconds``."""
        self.say(f"sustainable throughput: step at {rate:,} orders/s for {seconds:g} s")
        closes = WindowCloses(self.settings, self.stats_topic, self._input_partitions())
        lags = LagSampler(self.settings).start()
        try:
            report = self.offer(rate, seconds)
            samples = lags.stop()
            p99 = self._close_p99(closes, seconds)
        finally:
            lags.stop()
            lags.close()
            closes.close()
        return Step(rate, report.rate, samples, p99)

    def _input_partitions(self) -> int:
        return len(partitions_of(admin_for(self.settings), self.settings.named(ENRICHED_ORDERS)))

    def _close_p99(self, closes: WindowCloses, seconds: float) -> float | None:
        """p99 (ms) of the windows that closed (by event time) inside the step.

        A window closes when a record of event time >= its end + grace is processed, and
        that record was sent ``offset_s`` after its event time. A window still incomplete
        10 s after the step counts as closed then.
        """
        begin_ms, end_ms = int(self.planned * 1000), int((self.planned + seconds) * 1000)
        # The first window may be partial (its close is measured all the same), but with a
        # quarter second of orders at least, so that every input partition has some.
        first = SPEC.start_of(begin_ms + 250)
        last = SPEC.start_of(end_ms - SPEC.size_ms - SPEC.grace_ms)
        wanted = sorted(range(first, last + 1, SPEC.size_ms))
        if not wanted:
            return None
        give_up = time.monotonic() + 10
        while not closes.complete(set(wanted)) and time.monotonic() < give_up:
            time.sleep(0.2)
        now = time.time()
        seen = [closes.last_seen[s] if closes.complete({s}) else now for s in wanted]
        late = [
            at - SPEC.closes_at(s) / 1000 - self.offset_s
            for at, s in zip(seen, wanted, strict=True)
        ]
        return round(percentile(late, 0.99) * 1000, 1)

    def drained(self, timeout_s: float = 60) -> dict[str, int]:
        """Wait until no group lags (the next step starts clean); returns the last lags."""
        sampler = LagSampler(self.settings)
        try:
            deadline = time.monotonic() + timeout_s
            lags = sampler.read()
            while any(lags.values()) and time.monotonic() < deadline:
                time.sleep(0.5)
                lags = sampler.read()
            return lags
        finally:
            sampler.close()
