"""Translate librdkafka errors into orderstream errors named by the recovery they need."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from orderstream.errors import OrderstreamError, TaskMigrated, TransactionAborted


def kafka_error(exc: KafkaException) -> KafkaError | None:
    """The KafkaError inside a KafkaException, if there is one."""
    err = exc.args[0] if exc.args else None
    return err if isinstance(err, KafkaError) else None


def translate_txn_error(exc: KafkaException, during: str) -> OrderstreamError:
    """Abortable errors become TransactionAborted; fatal or unclassified ones TaskMigrated."""
    err = kafka_error(exc)
    if err is not None and err.txn_requires_abort():
        return TransactionAborted(f"{during} failed, the transaction must be aborted: {err.str()}")
    reason = err.str() if err is not None else str(exc)
    return TaskMigrated(f"{during} failed fatally (fenced or producer dead): {reason}")
