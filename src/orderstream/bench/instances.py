"""Backlog drains with one and with several instances of a service, in one run.

- enrichment: ``count`` orders pre-loaded into ``orders``, then ``n`` real ``orderstream run
  enrichment`` processes (one group, exactly-once, 100 ms commits) drain them; orders/s from
  the first to the last EnrichedOrder readable;
- analytics: ``bench.analytics.Bench`` on topics of its own: ``n`` real analytics processes
  start on empty topics, and once every one of them owns partitions, a backlog of EnrichedOrders
  (encoded ahead) is produced as fast as the broker takes it; events/s between the group's
  first and last committed progress. Started the other way round (backlog first), the first
  instance drains most of it alone, and the rest is measured across the rebalance that hands
  the second its partitions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from orderstream.bench.analytics import Bench
from orderstream.bench.probes import Arrivals
from orderstream.bench.stage1 import BenchOutcomeError
from orderstream.bench.sustained import ANALYTICS_OPTIONS, PRODUCTS
from orderstream.config import Settings
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.load import LoadSpec, build_orders, load_direct
from orderstream.testing.instances import metric_value

Say = Callable[[str], None]


def preload(settings: Settings, count: int, run_id: str) -> None:
    """``count`` orders into ``orders`` as fast as the broker takes them."""
    spec = LoadSpec(count=count, rate=0, products=PRODUCTS, direct=True, seed=len(run_id))
    load_direct(spec, settings, build_orders(spec, run_id), lambda _n: None)


@dataclass(frozen=True)
class DrainRun:
    """A drain's figures: orders/s from the first to the last order out, wall time from start."""

    orders_per_s: float
    wall_s: float
    arrivals: Arrivals


def _drain_run(began: float, arrivals: Arrivals) -> DrainRun:
    last = max(arrivals.seen.values(), default=began)
    span = last - arrivals.first
    return DrainRun(len(arrivals.seen) / span if span > 0 else 0.0, last - began, arrivals)


def enrichment_drain(harness: PipelineHarness, count: int, instances: int, say: Say) -> DrainRun:
    """``instances`` enrichment processes over ``count`` pre-loaded orders.

    The processes keep running (in ``harness``).
    """
    say(f"pre-loading {count:,} orders for {instances} enrichment instance(s)")
    preload(harness.settings, count, f"drain{instances}")
    arrivals = Arrivals(harness.settings)
    try:
        say(f"enrichment draining them (exactly-once, 100 ms commits, {instances} instance(s))")
        began = time.time()
        for i in range(instances):
            harness.start_enrichment(f"bench{i or ''}", wait=False)
        arrivals.wait_for(count, timeout_s=1_800)
    finally:
        arrivals.close()
    if len(arrivals.seen) < count:
        raise BenchOutcomeError(
            f"{len(arrivals.seen):,} of {count:,} orders came out of {instances} enrichment "
            f"instance(s) in 30 min; their logs are in {harness.run_dir / 'services'}"
        )
    return _drain_run(began, arrivals)


def analytics_drain(harness: PipelineHarness, events: int, instances: int, say: Say) -> float:
    """events/s of ``instances`` analytics processes over a backlog of ``events``.

    Every process owns partitions before the first event is produced (see the module
    docstring); their topics are ``Bench``'s own.
    """
    run = Bench(harness.settings, harness.run_dir / f"analytics-{instances}", say)
    started: list[ServiceHandle] = []
    try:
        run.create_topics()
        base = int(time.time() * 1000) - 3_600_000
        values = run.encoded(events, lambda i: base + i // 10)  # 10 orders per ms of event time
        say(f"analytics: {instances} instance(s) joining their group")
        for i in range(instances):
            options = ("--topic-prefix", run.topics.prefix, *ANALYTICS_OPTIONS)
            started.append(
                harness.start_analytics(*options, instance_id=f"drain{instances}-{i}", wait=False)
            )
        for handle in started:
            handle.ready_or_stop(120)
        _wait_all_assigned(started, timeout_s=120)
        say(f"analytics draining {events:,} enriched orders with {instances} instance(s)")
        run.send(values)
        return _committed_rate(run.committed_total, events, timeout_s=600)
    finally:
        _stop(started)  # before their topics go
        run.close()


def _wait_all_assigned(handles: list[ServiceHandle], timeout_s: float) -> None:
    """Until every process reports partitions of its input in ``orderstream_assigned_partitions``
    (the group is stable with all of them in it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(_assigned(handle) > 0 for handle in handles):
            return
        time.sleep(0.2)
    owners = {handle.spec.name: _assigned(handle) for handle in handles}
    raise BenchOutcomeError(
        f"analytics instances still without partitions after {timeout_s:.0f} s: {owners}"
    )


def _assigned(handle: ServiceHandle) -> float:
    return metric_value(f"{handle.url}/metrics", "orderstream_assigned_partitions")


def _stop(handles: list[ServiceHandle]) -> None:
    for handle in handles:
        handle.stop()


def _committed_rate(committed: Callable[[], int], target: int, timeout_s: float) -> float:
    """Records/s between the first committed progress and ``target`` committed."""
    first_t, first_n = 0.0, 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, now = committed(), time.monotonic()
        if done and not first_t:
            first_t, first_n = now, done
        if done >= target:
            return (done - first_n) / (now - first_t) if now > first_t else 0.0
        time.sleep(0.2)
    raise BenchOutcomeError(f"analytics did not commit {target:,} events in {timeout_s:.0f} s")
