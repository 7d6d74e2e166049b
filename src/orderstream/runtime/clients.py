"""The librdkafka configurations of one session's clients, derived from a RuntimeConfig.

Every client gets the session's ``LoginWatch`` as ``error_cb``: librdkafka reports a refused
login (wrong SCRAM password, failed TLS handshake) only there, and otherwise retries it forever,
so the service would only ever see time-outs. The watch logs one clear line naming the principal
and what to check; the loop then stops the service with that ``ConfigError`` (non-zero exit)
instead of rebuilding its session again and again.
"""

from __future__ import annotations

import logging
import threading
from typing import NamedTuple

from confluent_kafka import KafkaError

from orderstream.config import KafkaConfig, KafkaValue, Role, Settings, kafka_config
from orderstream.errors import ConfigError
from orderstream.runtime.api import RuntimeConfig

logger = logging.getLogger(__name__)

# librdkafka's default 1 MB per-partition fetch caps small-record consumption near 200k
# records/s on one broker; 8 MB lifts it to well over 1M/s (measured), so Python is the limit.
FETCH_TUNING: dict[str, KafkaValue] = {"max.partition.fetch.bytes": 8 * 1024 * 1024}

# The size limit (max_record_bytes) is on values; keys, headers (a DLQ copy's five) and the
# record overhead must fit on top, or librdkafka refuses the record (MSG_SIZE_TOO_LARGE).
OUTPUT_ROOM_BYTES = 64 * 1024


class KafkaLoginRefused(ConfigError):
    """The cluster refused this service's credentials or its TLS handshake: a configuration
    error, which no retry fixes."""


def _is_login_failure(err: KafkaError) -> bool:
    if err.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
        return True
    text = err.str()
    return "SASL authentication" in text or "SSL handshake failed" in text


class LoginWatch:
    """The ``error_cb`` of a session's clients: remembers the first refused login."""

    def __init__(self, settings: Settings, app_id: str) -> None:
        self.app_id = app_id
        self.principal = settings.security.username or "(no SASL user)"
        self.protocol = settings.security.protocol
        self.bootstrap = settings.bootstrap_servers
        self._lock = threading.Lock()
        self.failure: KafkaLoginRefused | None = None

    def on_error(self, err: KafkaError) -> None:
        if not _is_login_failure(err):
            logger.debug("kafka client error", extra={"error": err.str()})
            return
        with self._lock:
            if self.failure is not None:
                return
            self.failure = KafkaLoginRefused(
                f"{self.app_id}: Kafka at {self.bootstrap} refused the login of principal "
                f"{self.principal!r} ({self.protocol}): {err.str()}. Check security.username, "
                "security.password_file (or ORDERSTREAM_SECURITY__PASSWORD_FILE) and "
                "security.ca_file; 'orderstream security show' lists each principal's file"
            )
        logger.error(str(self.failure), extra={"principal": self.principal})

    def raise_if_refused(self) -> None:
        if self.failure is not None:
            raise self.failure


class ClientConfigs(NamedTuple):
    producer: KafkaConfig
    consumer: KafkaConfig
    reader: KafkaConfig  # the changelog reader (read_committed)
    probe: KafkaConfig  # its read_uncommitted twin, for log end offsets


def client_configs(
    config: RuntimeConfig, settings: Settings, login: LoginWatch | None = None
) -> ClientConfigs:
    configs = _client_configs(config, settings)
    if login is None:
        return configs
    # librdkafka takes the callable in its config dict; KafkaConfig types only the values.
    watched = {"error_cb": login.on_error}
    return ClientConfigs(*(dict(c, **watched) for c in configs))  # type: ignore[arg-type]


def _client_configs(config: RuntimeConfig, settings: Settings) -> ClientConfigs:
    name = config.transactional_id
    output = {
        "queue.buffering.max.messages": max(100_000, config.max_pending_produce * 2),
        "message.max.bytes": config.max_record_bytes + OUTPUT_ROOM_BYTES,
    }
    if config.exactly_once:
        producer = kafka_config(
            Role.TRANSACTIONAL_PRODUCER,
            f"{name}-producer",
            settings=settings,
            transactional_id=name,
            topics=config.output_topics,
            overrides={
                "transaction.timeout.ms": config.transaction_timeout_ms,
                "message.timeout.ms": max(1_000, config.transaction_timeout_ms - 1_000),
                **output,
            },
        )
    else:
        producer = kafka_config(
            Role.PRODUCER,
            f"{name}-producer",
            settings=settings,
            topics=config.output_topics,
            overrides=output,
        )
    fetch_at_least = {"fetch.max.bytes": max(64 * 1024 * 1024, config.max_record_bytes * 2)}
    consumer = kafka_config(
        Role.CONSUMER,
        f"{name}-consumer",
        settings=settings,
        group_id=config.app_id,
        overrides={
            "session.timeout.ms": config.session_timeout_ms,
            "heartbeat.interval.ms": max(500, config.session_timeout_ms // 4),
            **FETCH_TUNING,
        },
    )
    reader = kafka_config(
        Role.CONSUMER,
        f"{name}-restore",
        settings=settings,
        group_id=f"{config.app_id}-restore",
        overrides={
            "enable.partition.eof": True,
            **fetch_at_least,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            # Restores read to the end: do not let the broker hold an empty fetch.
            "fetch.wait.max.ms": 10,
            "session.timeout.ms": config.session_timeout_ms,  # unused (no group), but checked
        },
    )
    probe = dict(reader, **{"isolation.level": "read_uncommitted", "client.id": f"{name}-probe"})
    return ClientConfigs(producer, consumer, reader, probe)
