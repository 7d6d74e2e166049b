"""The payments saga on a real broker: a 20% failure rate, a provider that never answers, and
kill -9 of payments and enrichment mid-stream; the audit passes after each."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from orderstream.config import Settings
from orderstream.ops.audit import AuditSnapshot, as_json, run_audit
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.seed import seed_catalog
from orderstream.serde import EventSerde

pytestmark = pytest.mark.integration

PRODUCTS = 20


def env_of(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "ORDERSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "ORDERSTREAM_REGISTRY_URL": settings.registry_url,
        "ORDERSTREAM_HOME": str(settings.home),
    }


def load(settings: Settings, count: int, rate: int, seed: int) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "orderstream.cli", "load", "--count", str(count)]
    argv += ["--rate", str(rate), "--direct", "--products", str(PRODUCTS), "--seed", str(seed)]
    return subprocess.Popen(
        argv, env=env_of(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(proc: subprocess.Popen[str], timeout_s: float = 180) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    return out


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


def audit_passes(settings: Settings, reservation_timeout_ms: int) -> None:
    results = run_audit(settings, timeout_s=90, reservation_timeout_ms=reservation_timeout_ms)
    assert all(r.ok for r in results), as_json(results)
    names = {r.name for r in results}
    assert {n[:3] for n in names} >= {"6a.", "6b.", "6c.", "6d."}


def metric(handle: ServiceHandle, name: str) -> float:
    text = httpx.get(f"{handle.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics of {handle.spec.name}")


def test_a_20_percent_failure_rate_releases_each_failure_once(
    harness: PipelineHarness, settings: Settings, snapshot: AuditSnapshot
) -> None:
    seed_catalog(settings, PRODUCTS, 10_000)
    api = harness.start_orders()
    harness.start_enrichment(options=("--reservation-timeout-ms", "60000"))
    harness.start_payments("--failure-rate", "0.2", "--deadline-ms", "45000")
    finish(load(settings, 2_000, 0, seed=1))
    wait_until(snapshot, all_settled, "every reservation to be paid or released")

    ours = reserved(snapshot)
    failed = {o for o in ours if o in snapshot.failed}
    assert 0.12 < len(failed) / len(ours) < 0.28, (len(failed), len(ours))
    assert set(snapshot.releases) == failed  # each failure released, nothing else
    assert {r.reason for rs in snapshot.releases.values() for r in rs} == {"PAYMENT_FAILED"}
    audit_passes(settings, 60_000)

    paid_id, failed_id = sorted(snapshot.paid)[0], sorted(failed)[0]
    paid = httpx.get(f"{api.url}/orders/{paid_id}", params={"wait": 10}, timeout=20).json()
    assert paid["status"] == "PAID"
    assert [s["status"] for s in paid["path"]] == ["CREATED", "RESERVED", "PAID"]
    cancelled = httpx.get(f"{api.url}/orders/{failed_id}", params={"wait": 10}, timeout=20)
    body = cancelled.json()
    assert body["status"] == "CANCELLED", body
    assert body["path"][-1]["reason"] == "PAYMENT_FAILED: DECLINED"


def test_a_provider_that_never_answers_gets_reservations_released_after_t(
    harness: PipelineHarness, settings: Settings, snapshot: AuditSnapshot
) -> None:
    seed_catalog(settings, PRODUCTS, 1_000)
    harness.start_enrichment(options=("--reservation-timeout-ms", "3000"))
    payments = harness.start_payments(
        *("--hang", "--deadline-ms", "2000", "--call-timeout-ms", "300"),
        *("--breaker-failures", "3", "--breaker-open-ms", "1000", "--max-in-flight", "4"),
    )
    wait_until(snapshot, lambda s: True, "a first read")
    before = set(snapshot.order_ids)
    finish(load(settings, 200, 0, seed=2))
    wait_until(snapshot, all_settled, "the reservations to be released after T", 120)

    ours = reserved(snapshot) - before
    assert ours and not (ours & snapshot.paid.keys())
    assert {r.reason for o in ours for r in snapshot.releases[o]} == {"RESERVATION_TIMEOUT"}
    assert metric(payments, "orderstream_payments_circuit_opened") >= 1
    assert metric(payments, "orderstream_payments_completed") == 0
    audit_passes(settings, 3_000)


def test_kill_9_payments_and_enrichment_mid_stream_three_times_each(
    harness: PipelineHarness, settings: Settings, snapshot: AuditSnapshot
) -> None:
    seed_catalog(settings, PRODUCTS, 10_000)
    enrichment = harness.start_enrichment(options=("--reservation-timeout-ms", "90000"))
    payments = harness.start_payments("--failure-rate", "0.2", "--deadline-ms", "60000")
    wait_until(snapshot, lambda s: True, "a first read")
    producer = load(settings, 4_000, 150, seed=3)
    try:
        for victim in (payments, enrichment) * 3:
            seen = len(snapshot.paid) + len(snapshot.failed)
            wait_until(
                snapshot,
                lambda s, n=seen: len(s.paid) + len(s.failed) > n + 50,  # type: ignore[misc]
                "payments to make progress",
                120,
            )
            victim.kill()
            victim.restart()
    finally:
        finish(producer, 240)
    wait_until(snapshot, all_settled, "every reservation to be paid or released", 240)
    assert not (snapshot.paid.keys() & snapshot.releases.keys())
    audit_passes(settings, 90_000)
