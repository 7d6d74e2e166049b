"""Translate librdkafka errors into orderstream errors named by the recovery they need.

Every ``KafkaException`` that a call in ``orderstream.kafka`` can raise is translated here, at
the boundary, so nothing untranslated reaches the runtime loop (where it would end the process).
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from orderstream.errors import (
    ConfigError,
    OrderstreamError,
    TaskMigrated,
    TransactionAborted,
    TransientError,
)


class BrokerUnavailable(TaskMigrated):
    """The cluster could not answer (a broker restart, a network cut): the session is rebuilt
    from committed data once it answers again; nothing uncommitted is kept."""


class OutputTooLarge(OrderstreamError):
    """A record to produce is over the producer's size limit: the record that caused it goes
    to the DLQ (or, for punctuation output, is dropped and counted)."""


class TopicAccessDenied(ConfigError, TransientError):
    """The broker refused this principal a topic, its group, or the login itself: grant the
    ACL (``orderstream acls apply``) or fix the credentials. Also a ``TransientError``, as
    ``RegistryAccessDenied`` is, so that a processing loop retries instead of dead-lettering."""


class TopicMissing(ConfigError, TransientError):
    """A topic to read does not exist (after a bounded wait): create it
    (``orderstream topics apply``) or fix the topic name."""


ACCESS_CODES = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
    }
)
MISSING_CODES = frozenset(
    {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}
)


def refused_access(err: KafkaError | None) -> bool:
    return err is not None and err.code() in ACCESS_CODES


def access_denied(topic: str, err: KafkaError | None, principal: str | None) -> TopicAccessDenied:
    """The error for a refused read of ``topic``, naming the principal and what to check."""
    who = f"principal User:{principal}" if principal else "this client's principal"
    why = err.str() if err is not None else "access denied"
    code = err.code() if err is not None else None
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        fix = "check security.username and security.password_file"
    elif code == KafkaError.GROUP_AUTHORIZATION_FAILED:
        fix = "grant it READ on the reader's consumer group (orderstream acls apply)"
    else:
        fix = f"grant it READ and DESCRIBE on topic {topic} (orderstream acls apply)"
    return TopicAccessDenied(f"Kafka refused {who} reading {topic}: {why}; {fix}")


def topic_missing(topic: str, waited_s: float) -> TopicMissing:
    return TopicMissing(
        f"topic {topic} does not exist (waited {waited_s:.0f}s); create it with "
        "'orderstream topics apply' or check the topic name"
    )


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
        why = err.str()
        if err.code() == KafkaError._STATE:  # says nothing of the cause, which came earlier
            why = f"the transaction is in an abortable state (an earlier produce failed): {why}"
        return TransactionAborted(f"{during} failed, the transaction must be aborted: {why}")
    if err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        return OutputTooLarge(f"{during} refused a record: {err.str()}")
    if err is not None and err.retriable() and not err.fatal():
        return BrokerUnavailable(f"{during} kept failing: {err.str()}")
    return TaskMigrated(f"{during} failed fatally (fenced or producer dead): {describe(exc)}")


class TableBehind(TransientError):
    """The table did not reach the topic's end in time: the cluster is slow or unreachable."""


def read_failure(
    err: KafkaError, topic: str, principal: str | None, missing_for_s: float, missing_wait_s: float
) -> OrderstreamError | None:
    """The error a reader must raise for ``err``, or None for one to log and read on."""
    if refused_access(err):
        return access_denied(topic, err, principal)
    # An unknown topic is also seen for a moment while a leader moves: only a lasting one counts.
    if err.code() in MISSING_CODES and missing_for_s > missing_wait_s:
        return topic_missing(topic, missing_wait_s)
    return None
