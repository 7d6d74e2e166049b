"""Wiring of one payments instance: serde, provider, bounded pool, metrics and the EOS runtime."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import Gauge

from orderstream.config import Settings
from orderstream.runtime import ProcessingLoop, RuntimeConfig
from orderstream.runtime.signals import run_until_signalled
from orderstream.serde import EventSerde
from orderstream.services.payments.processor import APP_ID, PaymentsConfig, PaymentsProcessor
from orderstream.services.payments.provider import ProviderRules, SimulatedProvider

logger = logging.getLogger(__name__)


def payments_config(
    instance_id: str,
    *,
    http_port: int | None = None,
    state_dir: Path | None = None,
    commit_interval_ms: int = 100,
) -> RuntimeConfig:
    return RuntimeConfig(
        app_id=APP_ID,
        instance_id=instance_id,
        commit_interval_ms=commit_interval_ms,
        http_port=http_port,
        state_dir=state_dir,
    )


def register_metrics(loop: ProcessingLoop, processor: PaymentsProcessor) -> None:
    """The breaker's state and the payment counts, on the loop's ``/metrics``."""
    reg = loop.metrics.registry
    values = {
        "orderstream_payments_circuit_state": (
            "Payment provider circuit: 0 closed, 1 half-open, 2 open",
            lambda: float(processor.breaker.state),
        ),
        "orderstream_payments_circuit_opened": (
            "Times the payment circuit opened",
            lambda: float(processor.breaker.opened),
        ),
        "orderstream_payments_waiting": ("Orders waiting for a payment", lambda: processor.waiting),
        "orderstream_payments_in_flight": ("Provider calls running", lambda: processor.in_flight),
        "orderstream_payments_completed": ("Payments completed", lambda: processor.completed),
        "orderstream_payments_failed": ("Payments failed", lambda: processor.failed),
        "orderstream_payments_expired": ("Payments given up", lambda: processor.expired),
        "orderstream_payments_timeouts": ("Provider calls timed out", lambda: processor.timeouts),
        "orderstream_payments_outcomes_purged": (
            "Outcomes forgotten after their retention",
            lambda: processor.purged,
        ),
    }
    for name, (doc, read) in values.items():
        Gauge(name, doc, registry=reg).set_function(read)


def run_payments(
    settings: Settings,
    config: RuntimeConfig,
    options: PaymentsConfig | None = None,
    rules: ProviderRules | None = None,
) -> None:
    """Run one instance until SIGTERM/SIGINT, against the simulated provider."""
    options = options or PaymentsConfig()
    serde = EventSerde.from_settings(settings)
    provider = SimulatedProvider(rules)
    pool = ThreadPoolExecutor(options.max_in_flight, thread_name_prefix="provider")
    processor = PaymentsProcessor(serde, provider, pool, options, prefix=settings.prefix)
    loop = ProcessingLoop(processor, config.for_prefix(settings.prefix), settings)
    register_metrics(loop, processor)
    logger.info(
        "payments starting",
        extra={"instance_id": config.instance_id, "rules": str(provider.rules)},
    )
    try:
        run_until_signalled(loop.run, loop.stop)
    finally:
        provider.close()  # wakes calls that wait on the provider, so the pool can end
        pool.shutdown(wait=True, cancel_futures=True)
        serde.close()
