"""One scenario from start to verdict: load, warm-up, fault, heal, recovery, checkers.

Timeline: the load, the live watcher and the offset sampler start; once an order of this
scenario has come out of the pipeline (committed), the fault is injected and healed; a recovery
monitor then waits for full health while the load goes on until ``duration`` (at least
``TAIL_S`` past the heal). Then the load stops and the checkers run.

Measures:
- accepted and 503s answered by the API;
- unavailability window: from a fault to the first committed enriched order of an order
  acknowledged after it (the largest over the scenario's faults);
- recovery: from the first fault until ISR is full, every service is ready and every order
  acknowledged more than ``LAG_S`` ago has been seen committed in ``enriched-orders``.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, TopicPartition

from orderstream.chaos.checkers import Observations, run_checkers
from orderstream.chaos.env import PRODUCTS, ChaosEnv
from orderstream.chaos.load import LoadLog, SteadyLoad
from orderstream.chaos.reads import log_ends
from orderstream.chaos.scenarios import GROUP, FaultLog, Scenario
from orderstream.chaos.watch import CommittedWatcher, GroupOffsetSampler, WatchLog
from orderstream.errors import OrderstreamError
from orderstream.ops.audit import CheckResult
from orderstream.ops.topics_reader import partitions_of
from orderstream.services.analytics.events import APP_ID as ANALYTICS_GROUP
from orderstream.services.topics import (
    ENRICHED_ORDERS,
    INVENTORY_ADJUSTMENTS,
    ORDERS,
    ORDERS_BY_PRODUCT,
)
from orderstream.threads import StoppableThread

logger = logging.getLogger(__name__)

WARMUP_TIMEOUT_S = 180.0
TAIL_S = 5.0
LAG_S = 2.0
RECOVERY_TIMEOUT_S = 180.0
CATCH_UP_S = 120.0


@dataclass
class ScenarioResult:
    name: str
    summary: str
    seconds: float = 0.0
    accepted: int = 0
    unavailable: int = 0
    other_errors: dict[str, int] = field(default_factory=dict)
    window_s: float | None = None
    orders_repeats: int = 0
    recovery_s: float | None = None
    faults: FaultLog = field(default_factory=FaultLog)
    checks: list[CheckResult] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.faults.unsupported and all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        if self.faults.unsupported:
            return "UNSUPPORTED"
        return "PASS" if self.ok else "FAIL"


class RecoveryMonitor(StoppableThread):
    """Polls for full health from the heal on; records the first time it holds."""

    def __init__(self, env: ChaosEnv, load: LoadLog, watch: WatchLog) -> None:
        super().__init__("recovery")
        self.env, self.load, self.watch = env, load, watch
        self.recovered_at: float | None = None
        self._cursor = 0

    def wait(self, timeout_s: float) -> float | None:
        self.join(timeout_s)
        self.stop(10)
        return self.recovered_at

    def run(self) -> None:
        while not self.stopping.is_set():
            now = time.time()
            if self._caught_up(now) and self._healthy():
                self.recovered_at = now
                return
            time.sleep(0.5)

    def _caught_up(self, now: float) -> bool:
        acks = self.load.acks
        while self._cursor < len(acks) and acks[self._cursor][0].encode() in self.watch.first_seen:
            self._cursor += 1
        return self._cursor >= len(acks) or acks[self._cursor][1] > now - LAG_S

    def _healthy(self) -> bool:
        cluster = self.env.cluster
        if not all(cluster.alive(n) for n in cluster.node_ids):
            return False
        if cluster.under_replicated() != 0:
            return False
        return all(s.alive and s.ready for s in self.env.services())


def unavailability(faults: FaultLog, load: LoadLog, watch: WatchLog) -> float | None:
    """The largest gap from a fault to the first committed enriched order acked after it."""
    windows = []
    for fault in faults.faults:
        seen = [
            watch.first_seen[oid.encode()]
            for oid, at in load.acks
            if at > fault.at and oid.encode() in watch.first_seen
        ]
        if not seen:
            return None
        windows.append(min(seen) - fault.at)
    return max(windows) if windows else None


def _warm_up(load: LoadLog, watch: WatchLog, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(oid.encode() in watch.first_seen for oid, _ in load.acks[:50]):
            return
        time.sleep(0.2)
    raise OrderstreamError(
        f"no order came out of the pipeline within {timeout_s:.0f}s of load: "
        f"{len(load.acks)} accepted, {load.unavailable} answered 503; see the services' logs"
    )


def _group_inputs(env: ChaosEnv) -> dict[str, list[TopicPartition]]:
    """The input partitions of enrichment's and analytics' groups, whose commits are sampled."""
    inputs = {
        GROUP: (ORDERS, INVENTORY_ADJUSTMENTS, ORDERS_BY_PRODUCT),
        ANALYTICS_GROUP: (ENRICHED_ORDERS,),
    }
    return {
        group: [TopicPartition(t, p) for t in topics for p in partitions_of(env.cluster.admin, t)]
        for group, topics in inputs.items()
    }


def _stop_watcher(watcher: CommittedWatcher, load: LoadLog) -> WatchLog:
    """Let the watcher see every acknowledged order (or give up), then stop it.

    It must stop before the checkers' final reads: a record it saw after them could not be
    found in them, and would pass for an aborted read.
    """
    deadline = time.monotonic() + CATCH_UP_S
    while time.monotonic() < deadline:
        if all(oid.encode() in watcher.log.first_seen for oid, _ in load.acks):
            break
        time.sleep(0.5)
    return watcher.stop()


def _drive(
    env: ChaosEnv,
    scenario: Scenario,
    duration_s: float,
    result: ScenarioResult,
    load: SteadyLoad,
    watch: WatchLog,
) -> float | None:
    """Warm up, fault, heal, keep the load going, stop it; returns when the pipeline recovered."""
    began = time.monotonic()
    try:
        _warm_up(load.log, watch, WARMUP_TIMEOUT_S)
        try:
            scenario.inject(env, result.faults)
        finally:
            env.cluster.resume_all()  # never leave a node stopped, whatever failed
        monitor = RecoveryMonitor(env, load.log, watch)
        monitor.start()
        time.sleep(max(TAIL_S, duration_s - (time.monotonic() - began)))  # the steady load goes on
        load.stop()
        return monitor.wait(RECOVERY_TIMEOUT_S)
    except (OrderstreamError, KafkaException) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return None
    finally:
        load.stop()
        result.seconds = time.monotonic() - began


def run_scenario(
    env: ChaosEnv, scenario: Scenario, duration_s: float, rate: float
) -> ScenarioResult:
    """Run one scenario under load and check it; never leaves its threads running."""
    result = ScenarioResult(scenario.name, scenario.summary)
    prefix = f"chaos-{scenario.name}-{uuid.uuid4().hex[:6]}"
    start = {t: log_ends(env.settings, t) for t in (ORDERS, ENRICHED_ORDERS)}
    before = env.services()
    env.cluster.find_busy_partition()
    watcher = CommittedWatcher(env.settings, ENRICHED_ORDERS, start[ENRICHED_ORDERS])
    sampler = GroupOffsetSampler(env.settings, _group_inputs(env))
    load = SteadyLoad(env.orders_url, prefix, rate, PRODUCTS)
    try:
        for part in (watcher, sampler, load):
            part.start()
        recovered_at = _drive(env, scenario, duration_s, result, load, watcher.log)
    finally:
        sampler.stop()
        watch = _stop_watcher(watcher, load.log)
    result.accepted, result.unavailable = len(load.log.acked), load.log.unavailable
    result.other_errors = dict(load.log.other)
    if scenario.judge is not None and not result.error:
        scenario.judge(result.faults, load.log)
    if result.faults.faults and recovered_at is not None:
        result.recovery_s = recovered_at - result.faults.faults[0].at
    seen = Observations(
        prefix=prefix,
        start=start,
        load=load.log,
        watch=watch,
        offsets_backwards=sampler.backwards,
        services_before=before,
        recovered=recovered_at is not None or bool(result.faults.unsupported),
    )
    result.checks = [*result.faults.expectations, *run_checkers(env, seen)]
    result.orders_repeats = seen.orders_repeats
    result.window_s = unavailability(result.faults, load.log, watch)
    return result
