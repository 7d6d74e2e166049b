"""Jepsen-style checkers, run after every scenario once the pipeline has settled.

- no lost writes: every orderId the API acknowledged (2xx) is in ``orders``;
- DESIGN.md's invariants, through ``orderstream.ops.audit.run_audit`` (its public entry point,
  so invariants added there are checked here too);
- no duplicates: each of the scenario's orderIds once in ``enriched-orders``; a repeat in
  ``orders`` must be byte-identical (see ``check_orders_repeats``) and is counted;
- no aborted reads: every record the live read_committed watcher was shown is in the committed
  log with the same bytes, and the committed log is a subset of what read_uncommitted shows;
- monotonic offsets: per partition, in every read, and in the groups' committed offsets;
- no hanging transaction: last stable offset = log end offset on every topic once settled;
- every service recovered by itself: alive and ready, with no restart by hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from orderstream.chaos.env import ChaosEnv, ServiceState
from orderstream.chaos.load import LoadLog
from orderstream.chaos.reads import Seen, TopicRange, read_range, retry_transient
from orderstream.chaos.watch import WatchLog
from orderstream.config import Role, kafka_config
from orderstream.ops.audit import CheckResult, run_audit
from orderstream.ops.topics_reader import open_transactions
from orderstream.services.topics import ENRICHED_ORDERS, ORDERS

AUDIT_TIMEOUT_S = 120.0
HANGING_TIMEOUT_S = 60.0
# A service may still be restarting when the checks end: its loop's watchdog exits (code 75) when
# librdkafka is stuck past its own timeout, and the supervisor starts it again. That is recovering
# by itself, so the last check gives it this long to be alive and ready again.
SERVICES_SETTLE_S = 60.0


@dataclass
class Observations:
    """What a scenario saw, handed to the checkers."""

    prefix: str  # every orderId of this scenario starts with it
    start: dict[str, dict[int, int]]  # topic -> partition -> first offset of the scenario
    load: LoadLog
    watch: WatchLog
    offsets_backwards: list[str]
    services_before: list[ServiceState]
    recovered: bool
    orders_repeats: int = 0  # records of ``orders`` repeated by the producer (set by the checks)


def check_no_lost_writes(acked: set[bytes], orders: TopicRange) -> CheckResult:
    present = {r.key for r in orders.records}
    lost = sorted(acked - present)
    detail = f"{len(acked)} acknowledged, {len(lost)} missing from {ORDERS}"
    if lost:
        detail += f" (e.g. {', '.join(k.decode() for k in lost[:3])})"
    return CheckResult("no lost writes", not lost, detail)


def _repeats(prefix: bytes, records: TopicRange) -> dict[bytes, list[Seen]]:
    by_key: dict[bytes, list[Seen]] = {}
    for r in records.records:
        if r.key.startswith(prefix):
            by_key.setdefault(r.key, []).append(r)
    return {k: rs for k, rs in by_key.items() if len(rs) > 1}


def _positions(repeats: dict[bytes, list[Seen]], topic: str) -> str:
    return "; ".join(
        f"{k.decode()} at " + " ".join(f"{topic}-{r.partition}@{r.offset}" for r in rs)
        for k, rs in sorted(repeats.items())[:3]
    )


def check_no_duplicates(prefix: bytes, enriched: TopicRange) -> CheckResult:
    """No order of the scenario came out of the pipeline twice (committed enriched-orders)."""
    doubled = _repeats(prefix, enriched)
    detail = f"{len(doubled)} orderIds twice or more in {ENRICHED_ORDERS}"
    if doubled:
        detail += f" (e.g. {_positions(doubled, ENRICHED_ORDERS)})"
    return CheckResult("no duplicates", not doubled, detail)


def check_orders_repeats(prefix: bytes, acked: set[bytes], orders: TopicRange) -> CheckResult:
    """Repeated records in ``orders`` must be byte-identical: enrichment drops exact repeats.

    Each orderId is posted once, so a repeat is written by the idempotent producer itself:
    librdkafka can duplicate a batch when it bumps the epoch during a leader change (librdkafka
    issue 4953). DESIGN.md lets ``orders`` carry repeats (a retried 503 writes one too) and
    promises one outcome per orderId, which check "no duplicates" and the audit verify. A repeat
    with other bytes would be a different order under the same id: that fails.
    """
    repeats = _repeats(prefix, orders)
    conflicting = {k: rs for k, rs in repeats.items() if len({r.digest for r in rs}) > 1}
    detail = (
        f"{len(repeats)} orderIds written twice to {ORDERS} "
        f"({sum(k in acked for k in repeats)} acknowledged), {len(conflicting)} with other bytes"
    )
    if repeats:
        detail += f" (e.g. {_positions(repeats, ORDERS)}; librdkafka issue 4953)"
    return CheckResult("orders: repeats only exact", not conflicting, detail)


def check_no_aborted_reads(
    watch: WatchLog, committed: TopicRange, uncommitted: TopicRange
) -> CheckResult:
    final = committed.by_position()
    every = uncommitted.by_position()
    phantom = [pos for pos, d in watch.seen.items() if final.get(pos) != d]
    outside = [pos for pos, d in final.items() if every.get(pos) != d]
    aborted = len(every) - len(final)
    detail = (
        f"{len(watch.seen)} records read live under read_committed, all in the committed log: "
        f"{not phantom}; committed log within the uncommitted log: {not outside}; "
        f"{aborted} aborted records hidden from read_committed"
    )
    if phantom:
        detail += f" (read live but not committed: {sorted(phantom)[:3]})"
    return CheckResult("no aborted reads", not (phantom or outside or watch.errors), detail)


def check_monotonic(watch: WatchLog, reads: list[TopicRange], groups: list[str]) -> CheckResult:
    problems = [*watch.backwards, *groups, *(b for r in reads for b in r.backwards)]
    detail = "offsets only increase per partition (reads and group commits)"
    if problems:
        detail = f"{len(problems)} offsets went back: " + "; ".join(problems[:3])
    return CheckResult("monotonic offsets", not problems, detail)


def check_no_hanging_transactions(env: ChaosEnv) -> CheckResult:
    admin = AdminClient(kafka_config(Role.ADMIN, "chaos-check", settings=env.settings))
    topics = sorted(t for t in admin.list_topics(timeout=10).topics if not t.startswith("__"))
    deadline = time.monotonic() + HANGING_TIMEOUT_S
    while True:
        hanging = retry_transient(
            lambda: {t: open_transactions(admin, t) for t in topics}, "listing open transactions"
        )
        hanging = {t: parts for t, parts in hanging.items() if parts}
        if not hanging or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    detail = f"{len(topics)} topics: last stable offset = log end offset"
    if hanging:
        detail = "still open after settling: " + "; ".join(
            f"{t} {sorted(p)}" for t, p in hanging.items()
        )
    return CheckResult("no hanging transactions", not hanging, detail)


def check_services(before: list[ServiceState], after: list[ServiceState]) -> CheckResult:
    pids = {s.name: s.pid for s in before}
    down = [s.name for s in after if not (s.alive and s.ready)]
    respawned = [
        f"{s.name} (restarts {s.restarts})"
        for s in after
        if s.alive and (s.pid != pids.get(s.name) or s.restarts)
    ]
    detail = f"{len(after)} services alive and ready; none restarted by hand"
    if respawned:
        detail += f"; crashed and restarted by the supervisor: {', '.join(respawned)}"
    if down:
        detail = f"not alive and ready: {', '.join(down)}"
    return CheckResult("services recovered by themselves", not down, detail)


def check_recovered(recovered: bool) -> CheckResult:
    detail = "ISR full, services ready, every acknowledged order enriched"
    return CheckResult("pipeline recovered", recovered, detail if recovered else "not " + detail)


def run_checkers(env: ChaosEnv, seen: Observations) -> list[CheckResult]:
    """Every checker, in an order that lets the pipeline settle first (the audit waits for it)."""
    results = [check_recovered(seen.recovered)]
    results += [
        CheckResult(f"audit: {r.name}", r.ok, r.detail)
        for r in retry_transient(
            lambda: run_audit(env.settings, timeout_s=AUDIT_TIMEOUT_S), "the audit"
        )
    ]
    results.append(check_no_hanging_transactions(env))
    orders = read_range(env.settings, ORDERS, seen.start[ORDERS], "read_committed")
    committed = read_range(
        env.settings, ENRICHED_ORDERS, seen.start[ENRICHED_ORDERS], "read_committed"
    )
    uncommitted = read_range(
        env.settings, ENRICHED_ORDERS, seen.start[ENRICHED_ORDERS], "read_uncommitted"
    )
    acked = {oid.encode() for oid in seen.load.acked}
    results.append(check_no_lost_writes(acked, orders))
    results.append(check_no_duplicates(seen.prefix.encode(), committed))
    results.append(check_orders_repeats(seen.prefix.encode(), acked, orders))
    seen.orders_repeats = len(_repeats(seen.prefix.encode(), orders))
    results.append(check_no_aborted_reads(seen.watch, committed, uncommitted))
    results.append(
        check_monotonic(seen.watch, [orders, committed, uncommitted], seen.offsets_backwards)
    )
    results.append(check_services(seen.services_before, settled_services(env)))
    return results


def settled_services(env: ChaosEnv, timeout_s: float = SERVICES_SETTLE_S) -> list[ServiceState]:
    """The services once every one is alive and ready, or as they are when ``timeout_s`` ends."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = env.services()
        if all(s.alive and s.ready for s in states) or time.monotonic() >= deadline:
            return states
        time.sleep(0.5)
