"""Run analytics: the exactly-once processing loop, the dashboard app and the lag poller.

The loop runs in the main thread (it owns the signals); uvicorn serves the app from a thread.
SIGTERM or SIGINT finishes the open transaction, leaves the group and stops the app.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import uvicorn
from confluent_kafka.admin import AdminClient
from prometheus_client import REGISTRY

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import ConfigError, PortInUse
from orderstream.runtime import ProcessingLoop, RuntimeConfig
from orderstream.runtime.signals import run_until_signalled
from orderstream.serde import EventSerde, value_subject
from orderstream.services.analytics.app import create_app
from orderstream.services.analytics.circuit import CircuitPoller
from orderstream.services.analytics.events import (
    APP_ID,
    ORDER_ALERTS,
    ORDER_STATS,
    AnalyticsTopics,
)
from orderstream.services.analytics.lag import LagPoller
from orderstream.services.analytics.live import LiveView
from orderstream.services.analytics.model import ModelConfig
from orderstream.services.analytics.processor import AnalyticsOptions, AnalyticsProcessor
from orderstream.services.analytics.windows import WindowSpec
from orderstream.tls import ServerTls

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpOptions:
    """The dashboard's address; HTTPS only when ``tls`` is given (``/metrics`` included, so
    it is scraped with the CA; the runtime's own metrics port stays plain on 127.0.0.1)."""

    host: str = "127.0.0.1"
    port: int = 8088
    tls: ServerTls | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/"


# What is particular to analytics' runtime (exactly-once, the defaults otherwise); each
# instance adds its id, state directory and commit interval.
RUNTIME = RuntimeConfig(
    app_id=APP_ID,
    instance_id="",
    output_topics=(ORDER_STATS, ORDER_ALERTS),  # their codec (settings.compression.topics)
)


def register_schemas(serde: EventSerde) -> None:
    """Put the analytics subjects under FULL compatibility before the first write."""
    for topic in (ORDER_STATS, ORDER_ALERTS):
        serde.client.set_level(value_subject(topic), "FULL")


def bind_dashboard(http: HttpOptions) -> socket.socket:
    """Bind the dashboard port up front: a taken port is a clear error, not a dead thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((http.host, http.port))
    except OSError as exc:
        sock.close()
        raise PortInUse(http.port, "analytics dashboard") from exc
    return sock


class AnalyticsService:
    """The processing loop, the dashboard server and the lag poller of one instance."""

    def __init__(
        self,
        settings: Settings,
        runtime: RuntimeConfig,
        options: AnalyticsOptions | None = None,
        http: HttpOptions | None = None,
    ) -> None:
        self.options = options or AnalyticsOptions()
        self.http = http or HttpOptions()
        self.serde = EventSerde.from_settings(settings)
        self.live = LiveView(self.options.window)
        self.processor = AnalyticsProcessor(self.serde, self.options, self.live)
        self.loop = ProcessingLoop(self.processor, runtime, settings)
        app = create_app(
            self.live,
            ready=lambda: self.loop.ready()[0],
            registries=(REGISTRY, self.loop.metrics.registry),
        )
        tls = self.http.tls
        config = uvicorn.Config(
            app,
            host=self.http.host,
            port=self.http.port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=tls.certfile if tls else None,
            ssl_keyfile=tls.keyfile if tls else None,
        )
        self.server = uvicorn.Server(config)
        self.settings = settings

    def run(self) -> None:
        """Block until ``stop()``; always stops the app and the poller."""
        sock = bind_dashboard(self.http)
        try:
            register_schemas(self.serde)
        except BaseException:
            sock.close()
            raise
        web = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="dashboard", daemon=True
        )
        web.start()
        admin = AdminClient(kafka_config(Role.ADMIN, "analytics-lag", settings=self.settings))
        lag_consumers = kafka_config(
            Role.CONSUMER, "analytics-lag", settings=self.settings, group_id="-"
        )
        lag = LagPoller(admin, self.live, consumer_config=lag_consumers)
        lag.start()
        circuit = CircuitPoller(self.options.payments_metrics_url, self.live)
        circuit.start()
        logger.info(
            "analytics dashboard",
            extra={"url": self.http.url, "payments_metrics": self.options.payments_metrics_url},
        )
        try:
            self.loop.run()
        finally:
            self.server.should_exit = True
            web.join(timeout=10)
            lag.stop()
            circuit.stop()
            self.serde.close()

    def stop(self) -> None:
        self.loop.stop()


def run_analytics(
    settings: Settings,
    runtime: RuntimeConfig,
    options: AnalyticsOptions | None = None,
    http: HttpOptions | None = None,
) -> None:
    """Run until SIGTERM/SIGINT."""
    service = AnalyticsService(settings, runtime, options, http)

    run_until_signalled(service.run, service.stop)


@dataclass(frozen=True)
class AnalyticsArgs:
    """What ``orderstream run analytics`` takes, before validation."""

    host: str
    port: int
    window_ms: int
    grace_ms: int
    idle_close_ms: int
    threshold: float
    seed: int
    topic_prefix: str = ""
    tls: ServerTls | None = None
    payments_metrics_url: str = AnalyticsOptions.payments_metrics_url

    def options(self) -> AnalyticsOptions:
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"--threshold must be in (0, 1], got {self.threshold}")
        if self.idle_close_ms < 0:
            raise ConfigError(f"--idle-close-ms must not be negative, got {self.idle_close_ms}")
        return AnalyticsOptions(
            window=WindowSpec(self.window_ms, self.grace_ms),
            model=ModelConfig(seed=self.seed, threshold=self.threshold),
            idle_close_ms=self.idle_close_ms or None,
            topics=AnalyticsTopics(self.topic_prefix),
            payments_metrics_url=self.payments_metrics_url,
        )


def run_from_args(
    settings: Settings,
    args: AnalyticsArgs,
    instance_id: str,
    state_dir: Path | None,
    commit_interval_ms: int,
) -> None:
    """``orderstream run analytics``: validate, then run until SIGTERM/SIGINT."""
    options = args.options()
    runtime = replace(
        RUNTIME.for_prefix(args.topic_prefix),  # the CLI passes Settings.prefix
        instance_id=instance_id,
        state_dir=(state_dir or settings.home / "analytics") / instance_id,
        commit_interval_ms=commit_interval_ms,
    )
    run_analytics(settings, runtime, options, HttpOptions(args.host, args.port, args.tls))
