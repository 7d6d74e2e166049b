"""``orderstream bench payments-latency``: order -> PAID end to end, at an offered rate.

The real pipeline on a fresh local cluster: ``orderstream run enrichment`` and ``orderstream run
payments`` as processes (exactly-once, simulated provider), orders produced to ``orders`` at a
steady rate, each stamped with the wall clock when it is sent (``OrderCreated.timestamp``).
A read_committed consumer follows ``payments-completed``; per order:

- order -> PAID: from the OrderCreated timestamp to the moment its PaymentCompleted is readable
  by a read_committed consumer (what any downstream reader can see);
- order -> reserved: to ``reserved_at`` (enrichment's stock stage, inside its transaction);
- order -> decided: to ``completed_at`` (payments' decision; its commit follows within a cycle).

Everything runs on this machine, so the three clocks are one.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from orderstream.config import Role, Settings, kafka_config, load_settings
from orderstream.errors import PlatformError
from orderstream.ops.harness import PipelineHarness, pipeline_environment
from orderstream.ops.seed import product_id, seed_catalog, unit_price_cents
from orderstream.serde import EventSerde, OrderCreated, PaymentCompleted
from orderstream.services.topics import ORDERS, PAYMENTS_COMPLETED, PRODUCT_HEADER
from orderstream.stats import percentile_or_none

PRODUCTS = 50
PARTITIONS = 6  # the topology's default
Say = Callable[[str], None]


@dataclass
class Paid:
    """What the follower saw: orderId -> (seen ms, reserved_at, completed_at)."""

    seen: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _follow(settings: Settings, paid: Paid, stop: threading.Event) -> None:
    conf = kafka_config(
        Role.CONSUMER, "bench-payments-latency", settings=settings, group_id="bench-latency",
        overrides={"fetch.wait.max.ms": 5, "fetch.min.bytes": 1},
    )  # fmt: skip
    consumer = Consumer(conf)
    serde = EventSerde.from_settings(settings)
    parts = [TopicPartition(PAYMENTS_COMPLETED, p, OFFSET_BEGINNING) for p in range(PARTITIONS)]
    consumer.assign(parts)
    try:
        while not stop.is_set():
            for msg in consumer.consume(1_000, 0.05):
                if msg.error() is not None:
                    continue
                now = time.time() * 1000
                event = serde.decode(msg.value())
                if isinstance(event, PaymentCompleted):
                    with paid.lock:
                        paid.seen[event.order_id] = (now, event.reserved_at, event.completed_at)
    finally:
        consumer.close()
        serde.close()


def _produce(
    settings: Settings, rate: int, seconds: float, run_id: str
) -> tuple[dict[str, int], float]:
    """Orders at ``rate``/s for ``seconds``, each stamped when sent: orderId -> timestamp, and
    the seconds the sending took."""
    serde = EventSerde.from_settings(settings)
    producer = Producer(kafka_config(Role.PRODUCER, "bench-payments-latency", settings=settings))
    created: dict[str, int] = {}
    began = time.perf_counter()
    try:
        for i in range(int(rate * seconds)):
            delay = began + i / rate - time.perf_counter()
            if delay > 0.0005:
                producer.poll(delay)
            index = i % PRODUCTS
            now = int(time.time() * 1000)
            order = OrderCreated(
                f"lat-{run_id}-{i}", f"c-{i % 997}", product_id(index), 1,
                unit_price_cents(index), "EUR", now,
            )  # fmt: skip
            headers: list[tuple[str, str | bytes | None]] = [
                (PRODUCT_HEADER, order.product_id.encode())
            ]
            value = serde.encode(ORDERS, order)
            producer.produce(ORDERS, value, order.order_id.encode(), headers=headers)
            producer.poll(0)
            created[order.order_id] = now
        elapsed = time.perf_counter() - began
        producer.flush(60)
    finally:
        serde.close()
    return created, elapsed


def _figures(created: dict[str, int], paid: Paid, warmup_s: float) -> dict[str, Any]:
    first = min(created.values())
    e2e, reserved, decided = [], [], []
    for order_id, ts in created.items():
        if ts < first + warmup_s * 1000 or order_id not in paid.seen:
            continue
        seen, reserved_at, completed_at = paid.seen[order_id]
        e2e.append(seen - ts)
        reserved.append(float(reserved_at - ts))
        decided.append(float(completed_at - ts))

    p = percentile_or_none

    return {
        "measured_orders": len(e2e),
        "order_to_paid_p50_ms": p(e2e, 0.5),
        "order_to_paid_p99_ms": p(e2e, 0.99),
        "order_to_paid_max_ms": p(e2e, 1.0),
        "order_to_reserved_p50_ms": p(reserved, 0.5),
        "order_to_reserved_p99_ms": p(reserved, 0.99),
        "order_to_decided_p50_ms": p(decided, 0.5),
        "order_to_decided_p99_ms": p(decided, 0.99),
    }


def _wait_paid(created: dict[str, int], paid: Paid, timeout_s: float, say: Say) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with paid.lock:
            missing = len(created.keys() - paid.seen.keys())
        if not missing:
            return
        if time.monotonic() > deadline:
            raise PlatformError(
                f"{missing} of {len(created)} orders were not PAID within {timeout_s:.0f} s "
                "after the load; see the service logs under the bench home"
            )
        say(f"waiting for {missing} payments")
        time.sleep(1.0)


def bench_payments_latency(
    rate: int, seconds: float, latency_ms: float, warmup_s: float, say: Say
) -> dict[str, Any]:
    """Order -> PAID percentiles at ``rate`` orders/s (see the module docstring)."""
    run_id = f"{int(time.time()):x}"
    with (
        tempfile.TemporaryDirectory(prefix="bench-payments-latency-") as home,
        pipeline_environment(Path(home), load_settings().cache_dir) as (_cluster, settings),
    ):
        seed_catalog(settings, PRODUCTS, 10_000_000)
        harness = PipelineHarness(settings, Path(home) / "run")
        paid, stop = Paid(), threading.Event()
        follower = threading.Thread(target=_follow, args=(settings, paid, stop), daemon=True)
        try:
            say("starting enrichment and payments")
            provider = ("--latency-ms", str(latency_ms), "--jitter-ms", str(latency_ms / 2))
            services = [harness.start_enrichment(wait=False), harness.start_payments(*provider)]
            for handle in services:
                handle.wait_ready()
            follower.start()
            say(f"{rate:,} orders/s for {seconds:.0f} s")
            created, sending_s = _produce(settings, rate, seconds, run_id)
            _wait_paid(created, paid, 120, say)
        finally:
            stop.set()
            if follower.is_alive():
                follower.join(10)
            harness.stop_all()
    return {
        "offered_rate": rate,
        "orders": len(created),
        "seconds": seconds,
        "warmup_s": warmup_s,
        "provider_latency_ms": latency_ms,
        **_figures(created, paid, warmup_s),
        "sent_orders_per_s": round(len(created) / sending_s, 1),
    }
