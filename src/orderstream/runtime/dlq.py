"""Dead-letter routing: a record that cannot be processed goes to ``<input-topic>.dlq``.

The DLQ record keeps the original key and value (the value is dropped when it is over the size
limit) and carries headers naming where it came from and why it failed.
"""

from __future__ import annotations

from orderstream.runtime.api import Header, Record

# (topic, key, value, headers) of a DLQ record.
DeadLetterRecord = tuple[str, bytes | None, bytes | None, list[Header]]

DLQ_SUFFIX = ".dlq"
H_SOURCE_TOPIC = "dlq.source.topic"
H_SOURCE_PARTITION = "dlq.source.partition"
H_SOURCE_OFFSET = "dlq.source.offset"
H_ERROR_CLASS = "dlq.error.class"
H_ERROR_MESSAGE = "dlq.error.message"
_MAX_MESSAGE = 1_000


class RecordTooLarge(Exception):
    """The record is over ``RuntimeConfig.max_record_bytes``."""


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def dlq_headers(record: Record, error: BaseException) -> list[Header]:
    """Headers that say where the record came from and why it failed."""
    message = str(error)[:_MAX_MESSAGE]
    return [
        (H_SOURCE_TOPIC, record.topic.encode()),
        (H_SOURCE_PARTITION, str(record.partition).encode()),
        (H_SOURCE_OFFSET, str(record.offset).encode()),
        (H_ERROR_CLASS, type(error).__name__.encode()),
        (H_ERROR_MESSAGE, message.encode("utf-8", "replace")),
        *record.headers,
    ]


def dead_letter(record: Record, error: BaseException) -> DeadLetterRecord:
    """The DLQ copy of a failed record (without its value when the value was too large)."""
    value = None if isinstance(error, RecordTooLarge) else record.value
    return dlq_topic(record.topic), record.key, value, dlq_headers(record, error)
