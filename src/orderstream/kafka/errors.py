"""Translate librdkafka errors into orderstream errors named by the recovery they need.

Every ``KafkaException`` that a call in ``orderstream.kafka`` can raise is translated here, at
the boundary, so nothing untranslated reaches the runtime loop (where it would end the process).
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from orderstream.errors import OrderstreamError, TaskMigrated, TransactionAborted


class BrokerUnavailable(TaskMigrated):
    """The cluster could not answer (a broker restart, a network cut): the session is rebuilt
    from committed data once it answers again; nothing uncommitted is kept."""


class OutputTooLarge(OrderstreamError):
    """A record to produce is over the producer's size limit: the record that caused it goes
    to the DLQ (or, for punctuation output, is dropped and counted)."""


def kafka_error(exc: KafkaException) -> KafkaError | None:
    """The KafkaError inside a KafkaException, if there is one."""
    err = exc.args[0] if exc.args else None
    return err if isinstance(err, KafkaError) else None


def describe(exc: BaseException) -> str:
    err = kafka_error(exc) if isinstance(exc, KafkaException) else None
    return err.str() if err is not None else str(exc)


def broker_unavailable(exc: KafkaException, during: str) -> BrokerUnavailable:
    """A metadata, offsets or group call failed: rebuild the session after a backoff."""
    return BrokerUnavailable(
        f"{during} failed: {describe(exc)}; the session is rebuilt when the cluster answers"
    )


def translate_txn_error(exc: KafkaException, during: str) -> OrderstreamError:
    """Abortable errors become TransactionAborted; too-large records OutputTooLarge; fatal
    or unclassified ones TaskMigrated."""
    err = kafka_error(exc)
    if err is not None and err.txn_requires_abort():
        return TransactionAborted(f"{during} failed, the transaction must be aborted: {err.str()}")
    if err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        return OutputTooLarge(f"{during} refused a record: {err.str()}")
    if err is not None and err.retriable() and not err.fatal():
        return BrokerUnavailable(f"{during} kept failing: {err.str()}")
    return TaskMigrated(f"{during} failed fatally (fenced or producer dead): {describe(exc)}")
