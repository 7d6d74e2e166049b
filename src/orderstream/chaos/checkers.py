"""Jepsen-style checkers, run after every scenario once the pipeline has settled.

- no lost writes: every orderId the API acknowledged (2xx) is in ``orders``;
- DESIGN.md's invariants, through ``orderstream.ops.audit.run_audit`` (its public entry point,
  so invariants added there are checked here too);
- no duplicates: each of the scenario's orderIds once in ``orders``, once in ``enriched-orders``;
- no aborted reads: every record the live read_committed watcher was shown is in the committed
  log with the same bytes, and the committed log is a subset of what read_uncommitted shows;
- monotonic offsets: per partition, in every read, and in the groups' committed offsets;
- no hanging transaction: last stable offset = log end offset on every topic once settled;
- every service recovered by itself: alive and ready, with no restart by hand.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from orderstream.chaos.env import ChaosEnv, ServiceState
from orderstream.chaos.load import LoadLog
from orderstream.chaos.reads import TopicRange, read_range
from orderstream.chaos.watch import WatchLog
from orderstream.config import Role, kafka_config
from orderstream.ops.audit import CheckResult, run_audit
from orderstream.ops.topics_reader import open_transactions
from orderstream.services.topics import ENRICHED_ORDERS, ORDERS

AUDIT_TIMEOUT_S = 120.0
HANGING_TIMEOUT_S = 60.0


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


def check_no_lost_writes(acked: set[bytes], orders: TopicRange) -> CheckResult:
    present = {r.key for r in orders.records}
    lost = sorted(acked - present)
    detail = f"{len(acked)} acknowledged, {len(lost)} missing from {ORDERS}"
    if lost:
        detail += f" (e.g. {', '.join(k.decode() for k in lost[:3])})"
    return CheckResult("no lost writes", not lost, detail)


def check_no_duplicates(
    prefix: bytes, acked: set[bytes], orders: TopicRange, enriched: TopicRange
) -> CheckResult:
    doubled: dict[str, list[bytes]] = {}
    where: dict[bytes, list[str]] = {}
    for name, records in ((ORDERS, orders), (ENRICHED_ORDERS, enriched)):
        mine = [r for r in records.records if r.key.startswith(prefix)]
        counts = Counter(r.key for r in mine)
        doubled[name] = sorted(k for k, n in counts.items() if n > 1)
        for r in mine:
            if counts[r.key] > 1:
                where.setdefault(r.key, []).append(f"{name}-{r.partition}@{r.offset}")
    bad = {t: ks for t, ks in doubled.items() if ks}
    detail = "; ".join(f"{t}: {len(ks)} keys twice or more" for t, ks in doubled.items())
    if bad:
        keys = [k for ks in bad.values() for k in ks]
        detail += (
            f", {sum(k in acked for k in keys)} of them acknowledged (e.g. "
            + "; ".join(f"{k.decode()} at {' '.join(where[k])}" for k in keys[:3])
            + ")"
        )
    return CheckResult("no duplicates", not bad, detail)


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
        hanging = {t: open_transactions(admin, t) for t in topics}
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
        for r in run_audit(env.settings, timeout_s=AUDIT_TIMEOUT_S)
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
    results.append(check_no_duplicates(seen.prefix.encode(), acked, orders, committed))
    results.append(check_no_aborted_reads(seen.watch, committed, uncommitted))
    results.append(
        check_monotonic(seen.watch, [orders, committed, uncommitted], seen.offsets_backwards)
    )
    results.append(check_services(seen.services_before, env.services()))
    return results
