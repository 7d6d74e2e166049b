"""The payments saga on a real broker: a 20% failure rate with kill -9 of payments and
enrichment mid-stream, and a provider that never answers; the audit passes after each."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from orderstream.config import Settings
from orderstream.ops.audit import CHECKS, AuditSnapshot, as_json
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.load import LoadReport, LoadSpec, build_orders, load_direct
from orderstream.ops.seed import seed_catalog
from orderstream.serde import EventSerde

pytestmark = pytest.mark.integration

PRODUCTS = 20
# kill -9 of payments and enrichment, KILLS times each (the issue asks for three): one round
# kills payments alone, one enrichment alone, the others both at once (restarted side by side,
# which also halves the rounds' cost: each waits out a session timeout and a start-up).
KILLS = int(os.environ.get("ORDERSTREAM_TEST_KILLS", "3"))


class Load:
    """``orderstream load --direct`` in a thread of the test (no interpreter to start)."""

    def __init__(self, settings: Settings, count: int, rate: int, seed: int) -> None:
        spec = LoadSpec(count, rate, products=PRODUCTS, direct=True, seed=seed)
        orders = build_orders(spec)
        self.report: LoadReport | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.report = load_direct(spec, settings, orders, lambda _n: None)
            except BaseException as exc:  # reported by finish()
                self.error = exc

        self._thread = threading.Thread(target=run, name="load", daemon=True)
        self._thread.start()
        self.count = count

    def finish(self, timeout_s: float = 180) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the load did not finish"
        assert self.error is None, self.error
        assert self.report is not None and self.report.sent == self.count
        assert not self.report.refusals, self.report.refusals


class StreamLoad:
    """Orders at ``rate`` in one-second chunks until ``finish()``: the stream lasts as long
    as the kill rounds take, however fast the machine, so every kill is mid-stream."""

    def __init__(self, settings: Settings, rate: int, seed: int) -> None:
        self.sent = 0
        self.refusals: list[object] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()

        def run() -> None:
            chunk = 0
            try:
                while not self._stop.is_set():
                    spec = LoadSpec(rate, rate, products=PRODUCTS, direct=True, seed=seed + chunk)
                    orders = build_orders(spec, run_id=f"s{seed}-{chunk}")
                    report = load_direct(spec, settings, orders, lambda _n: None)
                    self.sent += report.sent
                    self.refusals += list(report.refusals.items())
                    chunk += 1
            except BaseException as exc:  # reported by finish()
                self.error = exc

        self._thread = threading.Thread(target=run, name="stream-load", daemon=True)
        self._thread.start()

    def finish(self, timeout_s: float = 60) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the load did not stop"
        assert self.error is None, self.error
        assert self.sent > 0 and not self.refusals, self.refusals


@pytest.fixture
def snapshot(settings: Settings) -> Iterator[AuditSnapshot]:
    serde = EventSerde.from_settings(settings)
    snap = AuditSnapshot(settings, serde)
    try:
        yield snap
    finally:
        snap.close()
        serde.close()


def wait_until(
    snap: AuditSnapshot, cond: Callable[[AuditSnapshot], bool], what: str, timeout_s: float = 180
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        snap.refresh()
        if cond(snap):
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def reserved(snap: AuditSnapshot) -> set[str]:
    return {o for o, e in snap.enriched.items() if e.status == "RESERVED"}


def all_settled(snap: AuditSnapshot) -> bool:
    """Every order enriched, and every reservation paid or released."""
    if not snap.order_ids or snap.order_ids - snap.enriched.keys():
        return False
    return all(o in snap.paid or o in snap.releases for o in reserved(snap))


def audit_passes(snap: AuditSnapshot, reservation_timeout_ms: int) -> None:
    """The audit's checks on what the test has read (``run_audit`` would read it all again)."""
    snap.reservation_timeout_ms = reservation_timeout_ms
    deadline = time.monotonic() + 90
    while True:
        snap.refresh()
        results = [check(snap) for check in CHECKS]
        if all(r.ok for r in results) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert all(r.ok for r in results), as_json(results)
    names = {r.name for r in results}
    assert {n[:3] for n in names} >= {"6a.", "6b.", "6c.", "6d."}


def metric(handle: ServiceHandle, name: str) -> float:
    text = httpx.get(f"{handle.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics of {handle.spec.name}")


def test_a_provider_that_never_answers_gets_reservations_released_after_t(
    harness: PipelineHarness, settings: Settings, snapshot: AuditSnapshot
) -> None:
    seed_catalog(settings, PRODUCTS, 1_000)
    enrichment = harness.start_enrichment(options=("--reservation-timeout-ms", "3000"), wait=False)
    payments = harness.start_payments(
        *("--hang", "--deadline-ms", "2000", "--call-timeout-ms", "300"),
        *("--breaker-failures", "3", "--breaker-open-ms", "1000", "--max-in-flight", "4"),
        wait=False,
    )
    for handle in (enrichment, payments):
        handle.wait_ready()
    wait_until(snapshot, lambda s: True, "a first read")
    before = set(snapshot.order_ids)
    Load(settings, 100, 0, seed=2).finish()
    wait_until(snapshot, all_settled, "the reservations to be released after T", 120)

    ours = reserved(snapshot) - before
    assert ours and not (ours & snapshot.paid.keys())
    assert {r.reason for o in ours for r in snapshot.releases[o]} == {"RESERVATION_TIMEOUT"}
    assert metric(payments, "orderstream_payments_circuit_opened") >= 1
    assert metric(payments, "orderstream_payments_completed") == 0
    audit_passes(snapshot, 3_000)


def test_20_percent_failures_and_kill_9_of_payments_and_enrichment_mid_stream(
    harness: PipelineHarness, settings: Settings, snapshot: AuditSnapshot
) -> None:
    seed_catalog(settings, PRODUCTS, 10_000)
    api = harness.start_orders(wait=False)  # the three start side by side
    timeout = ("--reservation-timeout-ms", "90000")
    enrichment = harness.start_enrichment(options=timeout, wait=False)
    payments = harness.start_payments("--failure-rate", "0.2", "--deadline-ms", "60000", wait=False)
    for handle in (api, enrichment, payments):
        handle.wait_ready()
    wait_until(snapshot, lambda s: True, "a first read")
    before = set(snapshot.order_ids)
    producer = StreamLoad(settings, 100, seed=3)
    try:
        rounds = [(payments,), (enrichment,), *[(payments, enrichment)] * (KILLS - 1)]
        for victims in rounds:
            seen = len(snapshot.paid) + len(snapshot.failed)
            wait_until(  # as soon as payments makes progress again: no fixed waits
                snapshot,
                lambda s, n=seen: len(s.paid) + len(s.failed) > n + 20,  # type: ignore[misc]
                "payments to make progress",
                120,
            )
            for victim in victims:
                victim.kill()
            for victim in victims:
                victim.process.start(victim.argv, victim.env)
            for victim in victims:
                victim.ready_or_stop(120)
    finally:
        producer.finish()
    wait_until(snapshot, all_settled, "every reservation to be paid or released", 240)

    ours = reserved(snapshot) - before
    failed = {o for o in ours if o in snapshot.failed}
    assert 0.12 < len(failed) / len(ours) < 0.28, (len(failed), len(ours))
    assert {o for o in ours if o in snapshot.releases} == failed  # each failure, once
    assert {r.reason for o in failed for r in snapshot.releases[o]} == {"PAYMENT_FAILED"}
    assert not (snapshot.paid.keys() & snapshot.releases.keys())
    audit_passes(snapshot, 90_000)

    paid_id = sorted(ours & snapshot.paid.keys())[0]
    paid = httpx.get(f"{api.url}/orders/{paid_id}", params={"wait": 10}, timeout=20).json()
    assert paid["status"] == "PAID"
    assert [s["status"] for s in paid["path"]] == ["CREATED", "RESERVED", "PAID"]
    cancelled = httpx.get(f"{api.url}/orders/{sorted(failed)[0]}", params={"wait": 10}, timeout=20)
    body = cancelled.json()
    assert body["status"] == "CANCELLED", body
    assert body["path"][-1]["reason"] == "PAYMENT_FAILED: DECLINED"
