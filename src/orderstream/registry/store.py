"""The ``_schemas`` topic as the registry's only storage: one reader thread, one producer.

Every instance reads the single partition from the beginning into ``RegistryState`` (a
``TopicTable``, kafka/table.py, in a thread) and is *ready* once it reached the end offset seen
at start-up. Writes are produced with an idempotent,
``acks=all`` producer; ``write`` returns only after the reader applied the record, so an answer
given after a write reflects it (read-your-writes). ``sync`` writes a NOOP marker and waits for
it, which brings this instance up to date with everything written before.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from orderstream.config import KafkaConfig, Role, Settings, kafka_config
from orderstream.errors import ConfigError, PlatformError, RegistryError
from orderstream.kafka.table import TopicTable
from orderstream.registry.keys import noop_key
from orderstream.registry.state import RegistryState

logger = logging.getLogger(__name__)

WRITE_TIMEOUT_S = 30.0


def with_error_log(conf: KafkaConfig) -> dict[str, Any]:
    """``conf`` with an ``error_cb`` that turns a refused login into one clear error line.

    A wrong SASL password otherwise shows only as time-outs (librdkafka reports the failure to
    ``error_cb`` alone).
    """
    return {**conf, "error_cb": _log_kafka_error}


def _log_kafka_error(err: KafkaError) -> None:
    if err.code() == KafkaError._AUTHENTICATION:
        logger.error(
            "Kafka refused the registry's login: check the registry principal's "
            "security.username and security.password_file",
            extra={"error": err.str()},
        )
    else:
        logger.debug("kafka client error", extra={"error": err.str()})


class SchemaStore:
    """Reads ``topic`` into ``state`` in a thread; writes records and waits until applied."""

    def __init__(self, settings: Settings, topic: str, state: RegistryState) -> None:
        self.settings = settings
        self.topic = topic
        self.state = state
        conf = kafka_config(
            Role.CONSUMER,
            "registry-reader",
            settings=settings,
            group_id=f"registry-reader-{topic}",  # never joined: we assign()
            overrides={"fetch.wait.max.ms": 10},
        )
        admin = kafka_config(Role.ADMIN, "registry-reader", settings=settings)
        self._table = TopicTable(conf, admin, topic, name="schemas-reader")
        self._table.subscribe(self._apply)
        self.ready: threading.Event = self._table.ready  # set once caught up with the topic
        self._producer = Producer(
            with_error_log(
                kafka_config(
                    Role.PRODUCER,
                    "registry-store",
                    settings=settings,
                    overrides={"linger.ms": 0, "compression.type": "none"},
                )
            )
        )

    @property
    def ready_after_s(self) -> float | None:
        return self._table.ready_after_s

    def start(self) -> None:
        ensure_schemas_topic(self.settings, self.topic)
        self._table.start()

    def close(self) -> None:
        self._table.close(timeout_s=10)
        self._producer.flush(5)

    @property
    def position(self) -> int:
        """The next offset to apply."""
        return self._table.position((self.topic, 0))

    def write(self, key: bytes, value: bytes | None) -> int:
        """Produce one record and wait until this instance applied it; returns its offset."""
        outcome: list[Message | KafkaError] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            outcome.append(err if err is not None else msg)

        try:
            self._producer.produce(self.topic, key=key, value=value, on_delivery=delivered)
        except (BufferError, ValueError) as exc:
            raise RegistryError(500, 50001, f"cannot write to {self.topic}: {exc}") from exc
        self._producer.flush(WRITE_TIMEOUT_S)
        if not outcome:
            raise RegistryError(500, 50002, f"write to {self.topic} timed out")
        result = outcome[0]
        if isinstance(result, KafkaError):
            raise RegistryError(500, 50001, f"write to {self.topic} failed: {result.str()}")
        offset = _offset(result)
        self.wait_applied(offset)
        return offset

    def sync(self) -> None:
        """Catch up with everything written to the topic so far (a NOOP marker round-trip)."""
        self.write(noop_key(), None)

    def wait_applied(self, offset: int, timeout: float = WRITE_TIMEOUT_S) -> None:
        if not self._table.wait_past((self.topic, 0), offset, timeout):
            failure = self._table.failure
            why = f": the reader stopped: {failure}" if failure is not None else " timed out"
            raise RegistryError(500, 50002, f"reading back offset {offset}{why}")

    def _apply(self, records: list[Message]) -> None:
        for msg in records:
            self.state.apply(msg.key(), msg.value())


def ensure_schemas_topic(settings: Settings, topic: str) -> None:
    """Create the compacted, single-partition schemas topic when it does not exist."""
    refused: list[KafkaError] = []
    conf: dict[str, Any] = {**kafka_config(Role.ADMIN, "registry-admin", settings=settings)}
    conf["error_cb"] = refused.append
    admin = AdminClient(conf)
    try:
        meta = admin.list_topics(timeout=10)
    except KafkaException as exc:
        admin.poll(0)  # serves the queued error events: was the login refused?
        if any(e.code() == KafkaError._AUTHENTICATION for e in refused):
            raise ConfigError(
                f"Kafka at {settings.bootstrap_servers} refused the registry's login as "
                f"{settings.security.username!r}: check security.username and "
                "security.password_file of the registry principal"
            ) from exc
        raise PlatformError(
            f"cannot reach Kafka at {settings.bootstrap_servers} to read {topic}: {exc}"
        ) from exc
    if topic in meta.topics:
        return
    replication = min(3, len(meta.brokers))
    new = NewTopic(
        topic,
        num_partitions=1,
        replication_factor=replication,
        config={
            "cleanup.policy": "compact",
            "min.insync.replicas": str(max(1, replication - 1)),
        },
    )
    try:
        admin.create_topics([new], operation_timeout=30)[topic].result(35)
    except Exception as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise RegistryError(500, 50001, f"cannot create topic {topic}: {exc}") from exc


def _offset(msg: Message) -> int:
    offset = msg.offset()
    return -1 if offset is None else int(offset)
