"""The faults, one function per scenario: each injects its fault(s), heals, and records when.

A scenario runs while the load, the live watcher and the offset sampler go on (see runner.py).
It records every fault's time, the roles the victim held, and checks that the fault landed
(a zombie lost its leadership, the proxy really swallowed EndTxn responses...), so a scenario
that passes cannot have passed because its fault missed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orderstream.chaos.env import DISK_NODE, ChaosEnv
from orderstream.chaos.load import LoadLog
from orderstream.chaos.proxy import END_TXN, PRODUCE
from orderstream.errors import PlatformError
from orderstream.ops.audit import CheckResult
from orderstream.services.topics import ORDERS

logger = logging.getLogger(__name__)

TXN_ID = "enrichment-0"
GROUP = "enrichment"
DOWN_S = 6.0  # how long a killed broker stays down
ZOMBIE_S = 12.0  # > broker.session.timeout.ms (3 s), replica.lag.time.max.ms (5 s), session 6 s
ZOMBIE_MAX_S = 45.0  # the longest pause while waiting for the cluster to fence the zombie
OUTAGE_S = 10.0  # two brokers down
DROP_S = 8.0  # the proxy swallows write-path responses for this long
DROP_MAX_S = 40.0  # ... and longer, until the response it is after was swallowed once
ISR_TIMEOUT_S = 180.0
API_ACK_TIMEOUT_S = 5.0  # the API's ack timeout (3 s) plus margin


@dataclass(frozen=True)
class Fault:
    at: float  # time.time()
    what: str
    node: int
    roles: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"at": self.at, "what": self.what, "node": self.node, "roles": list(self.roles)}


@dataclass
class FaultLog:
    faults: list[Fault] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    expectations: list[CheckResult] = field(default_factory=list)
    healed_at: float | None = None
    unsupported: str = ""
    outage: tuple[float, float] | None = None  # when no write could be acknowledged

    def fault(self, env: ChaosEnv, what: str, node: int) -> Fault:
        roles = tuple(r for r, n in env.cluster.roles(TXN_ID, GROUP).items() if n == node)
        fault = Fault(time.time(), what, node, roles)
        self.faults.append(fault)
        return fault

    def expect(self, name: str, ok: bool, detail: str) -> None:
        self.expectations.append(CheckResult(name, ok, detail))


Inject = Callable[[ChaosEnv, FaultLog], None]
Judge = Callable[[FaultLog, LoadLog], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    inject: Inject
    judge: Judge | None = None  # expectations on the load, once it has stopped


def wait_isr_full(env: ChaosEnv, timeout_s: float = ISR_TIMEOUT_S) -> float:
    """Block until no partition is under-replicated; returns the seconds it took."""
    began = time.monotonic()
    while env.cluster.under_replicated() != 0:
        if time.monotonic() - began > timeout_s:
            raise PlatformError(f"partitions still under-replicated after {timeout_s:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - began


def _busy_leader(env: ChaosEnv) -> tuple[int, int]:
    partition = env.cluster.busy_partition
    return partition, env.cluster.leader_of(ORDERS, partition)


def kill_each_broker(env: ChaosEnv, log: FaultLog) -> None:
    """SIGKILL every broker in turn: the busy partition's leader, then the coordinators."""
    todo = list(env.cluster.node_ids)
    for _ in range(len(todo)):
        roles = env.cluster.roles(TXN_ID, GROUP)
        wanted = [n for n in roles.values() if n in todo]
        victim = wanted[0] if wanted else todo[0]
        todo.remove(victim)
        log.fault(env, "SIGKILL", victim)
        env.cluster.kill(victim)
        time.sleep(DOWN_S)  # a fault's duration, not a wait for a condition
        env.cluster.restart_missing()
        log.notes.append(f"node {victim} back in ISR after {wait_isr_full(env):.1f}s")
    covered = {r.split(" of ")[0] for f in log.faults for r in f.roles}
    log.expect(
        "every broker killed, roles covered",
        len(log.faults) == len(env.cluster.node_ids),
        f"killed {[f.node for f in log.faults]}; roles hit: {sorted(covered)}",
    )
    log.healed_at = time.time()


def rolling_restart(env: ChaosEnv, log: FaultLog) -> None:
    """A clean (SIGTERM) restart of every broker, one at a time, each back in ISR first."""
    for node in env.cluster.node_ids:
        log.fault(env, "clean restart", node)
        how = env.cluster.stop(node)
        env.cluster.restart_missing()
        log.notes.append(f"node {node} {how}, back in ISR after {wait_isr_full(env):.1f}s")
    log.healed_at = time.time()


def zombie_leader(env: ChaosEnv, log: FaultLog) -> None:
    """SIGSTOP the busy partition's leader past every timeout, then SIGCONT it.

    The pause lasts ZOMBIE_S, and longer (up to ZOMBIE_MAX_S) until the other nodes name a new
    leader: when the victim is also the active controller, a new controller must be elected
    before it can fence the victim, and on a loaded machine that can take more than ZOMBIE_S."""
    partition, victim = _busy_leader(env)
    log.fault(env, "SIGSTOP", victim)
    env.cluster.pause(victim)
    started = time.monotonic()
    moved_to: int | None = victim
    try:
        while time.monotonic() - started < ZOMBIE_MAX_S:
            seen = env.cluster.leader_seen_without(ORDERS, partition, silent=victim)
            if seen is not None:
                moved_to = seen
            if moved_to not in (victim, -1) and time.monotonic() - started >= ZOMBIE_S:
                break
            time.sleep(0.5)
    finally:
        env.cluster.resume(victim)
    stopped = time.monotonic() - started
    log.expect(
        "the zombie lost its leadership",
        moved_to not in (victim, -1),
        f"orders-{partition} led by {moved_to} while node {victim} was stopped {stopped:.0f}s",
    )
    log.notes.append(f"node {victim} back in ISR after {wait_isr_full(env):.1f}s")
    log.healed_at = time.time()


def two_down(env: ChaosEnv, log: FaultLog) -> None:
    """Two brokers SIGKILLed: below min ISR, so the API must answer 503 and ack nothing."""
    _, first = _busy_leader(env)
    second = next(n for n in env.cluster.node_ids if n != first)
    for node in (first, second):
        log.fault(env, "SIGKILL", node)
        env.cluster.kill(node)
    time.sleep(OUTAGE_S)
    restart = time.time()
    env.cluster.restart_missing()
    log.notes.append(f"nodes {first}, {second} back in ISR after {wait_isr_full(env):.1f}s")
    log.healed_at = time.time()
    log.outage = (log.faults[-1].at + API_ACK_TIMEOUT_S, restart)


def judge_unavailable(log: FaultLog, load: LoadLog) -> None:
    """For two-down: 503s were answered, and nothing was acknowledged below min ISR."""
    if log.outage is None:
        return
    begin, end = log.outage
    during = [oid for oid, at in load.acked.items() if begin < at < end]
    refused = load.unavailable
    log.expect("the API answered 503", refused > 0, f"{refused} answers 503")
    log.expect(
        "nothing acknowledged below min ISR",
        not during,
        f"{len(during)} orders acknowledged while two brokers were down",
    )


def ambiguous_commit(env: ChaosEnv, log: FaultLog) -> None:
    """Two ambiguous writes at enrichment's transaction coordinator, one after the other.

    First the proxy swallows produce responses (the records are written, the producer cannot
    know), then EndTxn responses (the commit happens, the producer cannot know). They are two
    phases because a producer whose AddPartitionsToTxn or produce went unanswered never gets as
    far as EndTxn: dropping the whole write path at once never makes a commit ambiguous."""
    victim = env.cluster.transaction_coordinator(TXN_ID)
    proxy = env.proxies[victim]
    before = proxy.dropped.copy()
    log.fault(env, "produce responses dropped", victim)
    _swallow(env, victim, frozenset({PRODUCE}), PRODUCE)
    log.fault(env, "EndTxn responses dropped", victim)
    _swallow(env, victim, frozenset({END_TXN}), END_TXN)
    dropped = proxy.dropped - before
    log.notes.append(f"dropped {dict(dropped)} by api key")
    log.expect(
        "produce and EndTxn responses were swallowed",
        dropped[PRODUCE] > 0 and dropped[END_TXN] > 0,
        f"produce {dropped[PRODUCE]}, EndTxn {dropped[END_TXN]} responses dropped",
    )
    log.notes.append(f"all in ISR after {wait_isr_full(env):.1f}s")
    log.healed_at = time.time()


def _swallow(env: ChaosEnv, node: int, api_keys: frozenset[int], proof: int) -> None:
    """Swallow responses for DROP_S, and on until one response of ``proof`` was swallowed (at
    most DROP_MAX_S), then close every connection, as a network blip would."""
    proxy = env.proxies[node]
    first = proxy.dropped[proof]
    started = time.monotonic()
    proxy.drop_responses(api_keys)
    try:
        while time.monotonic() - started < DROP_MAX_S:
            if time.monotonic() - started >= DROP_S and proxy.dropped[proof] > first:
                break
            time.sleep(0.2)
    finally:
        proxy.forward_all()
        closed = proxy.reset_connections()
    logger.info("proxy of node %s: responses swallowed, %s connections reset", node, closed)


def _fill(directory: Path) -> int:
    """Write zeros into ``directory`` until the disk is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * (1 << 20)
    with (directory / "chaos-filler").open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(chunk)
            out.flush()
            written += len(chunk)
    return written


def full_disk(env: ChaosEnv, log: FaultLog) -> None:
    """Fill node 3's log dir (a tmpfs) until Kafka fails it, then free it and restart."""
    if env.disk_mount is None:
        log.unsupported = f"no small file system for node {DISK_NODE}: {env.disk_unsupported}"
        return
    log.fault(env, "disk full", DISK_NODE)
    written = _fill(env.disk_mount)
    deadline = time.monotonic() + 60
    while env.cluster.alive(DISK_NODE) and time.monotonic() < deadline:
        time.sleep(0.5)
    stopped = not env.cluster.alive(DISK_NODE)
    log.expect(
        "the broker stopped on the full disk",
        stopped,
        f"{written >> 20} MiB written; node {DISK_NODE} {'stopped' if stopped else 'still up'}",
    )
    os.unlink(env.disk_mount / "chaos-filler")
    if not stopped:
        env.cluster.stop(DISK_NODE)  # its log dir is offline: only a restart brings it back
    env.cluster.restart_missing()
    log.notes.append(f"node {DISK_NODE} back in ISR after {wait_isr_full(env):.1f}s")
    log.healed_at = time.time()


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("kill-each-broker", "SIGKILL every broker in turn, restart it", kill_each_broker),
    Scenario("rolling-restart", "clean restart of all three, one at a time", rolling_restart),
    Scenario("zombie-leader", f"SIGSTOP a busy leader {ZOMBIE_S:.0f}s, SIGCONT", zombie_leader),
    Scenario(
        "two-down", "two brokers SIGKILLed (below min ISR), restarted", two_down, judge_unavailable
    ),
    Scenario(
        "ambiguous-commit", "responses to produce/EndTxn dropped by a proxy", ambiguous_commit
    ),
    Scenario("full-disk", f"node {DISK_NODE}'s log dir fills up (tmpfs)", full_disk),
)


def scenario(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    known = ", ".join(s.name for s in SCENARIOS)
    raise PlatformError(f"unknown scenario {name!r}; known: {known}")
