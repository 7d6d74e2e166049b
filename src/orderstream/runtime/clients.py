"""The librdkafka configurations of one session's clients, derived from a RuntimeConfig."""

from __future__ import annotations

from typing import NamedTuple

from orderstream.config import KafkaConfig, KafkaValue, Role, Settings, kafka_config
from orderstream.runtime.api import RuntimeConfig

# librdkafka's default 1 MB per-partition fetch caps small-record consumption near 200k
# records/s on one broker; 8 MB lifts it to well over 1M/s (measured), so Python is the limit.
FETCH_TUNING: dict[str, KafkaValue] = {"max.partition.fetch.bytes": 8 * 1024 * 1024}

# The size limit (max_record_bytes) is on values; keys, headers (a DLQ copy's five) and the
# record overhead must fit on top, or librdkafka refuses the record (MSG_SIZE_TOO_LARGE).
OUTPUT_ROOM_BYTES = 64 * 1024


class ClientConfigs(NamedTuple):
    producer: KafkaConfig
    consumer: KafkaConfig
    reader: KafkaConfig  # the changelog reader (read_committed)
    probe: KafkaConfig  # its read_uncommitted twin, for log end offsets


def client_configs(config: RuntimeConfig, settings: Settings) -> ClientConfigs:
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
