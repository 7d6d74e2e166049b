"""``orderstream bench payments``: payments throughput on a fresh local cluster.

RESERVED EnrichedOrders are written to ``enriched-orders`` first; then one payments instance
(exactly-once runtime, simulated provider, bounded pool) drains them. The figure is outcomes
per second from the first provider call to the last outcome emitted (emitted outcomes are
committed in the same cycle, 100 ms).
"""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from confluent_kafka import Producer

from orderstream.config import Role, Settings, kafka_config, load_settings
from orderstream.ops.harness import pipeline_environment
from orderstream.runtime import ProcessingLoop
from orderstream.serde import EnrichedOrder, EventSerde
from orderstream.services.payments.processor import PaymentsConfig, PaymentsProcessor
from orderstream.services.payments.provider import ProviderRules, SimulatedProvider
from orderstream.services.payments.service import payments_config
from orderstream.services.topics import ENRICHED_ORDERS


def _write_reserved(settings: Settings, orders: int) -> None:
    serde = EventSerde.from_settings(settings)
    producer = Producer(kafka_config(Role.PRODUCER, "bench-payments", settings=settings))
    now = int(time.time() * 1000)
    try:
        for i in range(orders):
            order = EnrichedOrder(
                f"bench-{i}", f"c{i % 500}", "p1", 1, 1_000, "EUR", now, "Lamp", "home",
                "RESERVED", None, 0, now,
            )  # fmt: skip
            producer.produce(ENRICHED_ORDERS, serde.encode(ENRICHED_ORDERS, order), f"bench-{i}")
            producer.poll(0)
        producer.flush(60)
    finally:
        serde.close()


def _drain(settings: Settings, orders: int, rules: ProviderRules, in_flight: int) -> float:
    serde = EventSerde.from_settings(settings)
    provider = SimulatedProvider(rules)
    pool = ThreadPoolExecutor(in_flight, thread_name_prefix="provider")
    processor = PaymentsProcessor(serde, provider, pool, PaymentsConfig(max_in_flight=in_flight))
    loop = ProcessingLoop(processor, payments_config("bench"), settings)
    runner = threading.Thread(target=loop.run, name="payments-bench", daemon=True)
    runner.start()
    try:
        while processor.calls == 0:
            if not runner.is_alive():
                raise RuntimeError(f"the payments loop ended: {loop.error}")
            time.sleep(0.01)
        began = time.perf_counter()
        while processor.completed + processor.failed < orders:
            if not runner.is_alive():
                raise RuntimeError(f"the payments loop ended: {loop.error}")
            time.sleep(0.01)
        return orders / (time.perf_counter() - began)
    finally:
        loop.stop()
        runner.join(30)
        provider.close()
        pool.shutdown(wait=True, cancel_futures=True)
        serde.close()


def bench_payments(orders: int, latency_ms: float, in_flight: int) -> dict[str, float]:
    """Payments per second with the provider's ``latency_ms`` (+ up to 50% jitter)."""
    rules = ProviderRules(failure_rate=0.2, base_latency_ms=latency_ms, jitter_ms=latency_ms / 2)
    with (
        tempfile.TemporaryDirectory(prefix="bench-payments-") as home,
        pipeline_environment(Path(home), load_settings().cache_dir) as (_cluster, settings),
    ):
        _write_reserved(settings, orders)
        rate = _drain(settings, orders, rules, in_flight)
    return {
        "orders": orders,
        "provider_latency_ms": latency_ms,
        "max_in_flight": in_flight,
        "payments_per_s": round(rate, 1),
    }
