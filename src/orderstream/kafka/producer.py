"""The transactional producer: the ONE class that begins, commits and aborts transactions.

States (checked in ``_expect``)::

    NEW --init()--> READY --begin()--> IN_TRANSACTION --commit()/abort()--> READY
    any --fatal error or fenced--> FAILED  (raises TaskMigrated; build a new producer)

Error handling follows librdkafka's transactional rules (reference/exactly-once.md):
retriable errors retry the same call; ``txn_requires_abort`` becomes ``TransactionAborted`` (the
caller aborts and rewinds); fatal errors and fencing become ``TaskMigrated``. A commit whose
outcome is unknown (timed out) is never aborted: it is retried, and if it still cannot complete
the producer is declared FAILED so that a new one fences the stale request on ``init()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from orderstream.config import KafkaConfig
from orderstream.errors import TaskMigrated, TransactionAborted
from orderstream.kafka.errors import kafka_error, translate_txn_error

logger = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]] | None
DeliveryCallback = Callable[[Any, Any], None]

_COMMIT_ATTEMPTS = 5


class OutputProducer(Protocol):
    """What the runtime's hot path and checkpoint need from either producer."""

    # confluent_kafka's own produce(topic, value, key): for the hot path only.
    raw_produce: Callable[..., None]

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int = -1,
        headers: Headers = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None: ...

    def produce_all(
        self,
        topic: str,
        partition: int,
        records: Sequence[tuple[bytes, bytes | None]],
        on_last_delivered: DeliveryCallback,
    ) -> None: ...

    def poll(self, timeout: float = 0.0) -> int: ...

    def __len__(self) -> int: ...

    def close(self, timeout_s: float = 5.0) -> None: ...


class TxnState(Enum):
    NEW = "new"
    READY = "ready"
    IN_TRANSACTION = "in_transaction"
    FAILED = "failed"


class TransactionalProducer:
    """One stable ``transactional.id`` per process; see the module docstring for the rules."""

    def __init__(self, conf: KafkaConfig, api_timeout_s: float = 30.0) -> None:
        self.transactional_id = str(conf["transactional.id"])
        self._producer = Producer(conf)
        self.raw_produce: Callable[..., None] = self._producer.produce
        self._timeout = api_timeout_s
        self.state = TxnState.NEW

    def _expect(self, *states: TxnState) -> None:
        if self.state not in states:
            raise TaskMigrated(
                f"producer {self.transactional_id} is {self.state.value}, "
                f"expected {'/'.join(s.value for s in states)}"
            )

    def _fail(self, exc: KafkaException, during: str) -> TaskMigrated:
        self.state = TxnState.FAILED
        err = translate_txn_error(exc, during)
        return err if isinstance(err, TaskMigrated) else TaskMigrated(str(err))

    def init(self) -> None:
        """Register the transactional.id: fences older producers and aborts their open txn."""
        self._expect(TxnState.NEW)
        for _ in range(_COMMIT_ATTEMPTS):
            try:
                self._producer.init_transactions(self._timeout)
                self.state = TxnState.READY
                return
            except KafkaException as exc:
                err = kafka_error(exc)
                if err is None or not err.retriable():
                    raise self._fail(exc, "init_transactions") from exc
                logger.warning("init_transactions retry", extra={"error": err.str()})
        raise TaskMigrated(f"init_transactions of {self.transactional_id} kept timing out")

    @property
    def in_transaction(self) -> bool:
        return self.state is TxnState.IN_TRANSACTION

    def begin(self) -> None:
        self._expect(TxnState.READY)
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            raise self._fail(exc, "begin_transaction") from exc
        self.state = TxnState.IN_TRANSACTION

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int = -1,
        headers: Headers = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Produce inside the open transaction, waiting for queue space when it is full."""
        try:
            if headers is None and on_delivery is None:
                # Keyword arguments cost confluent_kafka about 1 us per call: the hot path
                # passes only positional ones.
                self.raw_produce(topic, value, key, partition)
            else:
                self.raw_produce(
                    topic, value, key, partition, headers=headers, on_delivery=on_delivery
                )
        except BufferError:
            self._produce_when_room(topic, key, value, partition, headers, on_delivery)
        except KafkaException as exc:
            raise self._produce_error(exc) from exc

    def produce_all(
        self,
        topic: str,
        partition: int,
        records: Sequence[tuple[bytes, bytes | None]],
        on_last_delivered: DeliveryCallback,
    ) -> None:
        """Produce (key, value) records to one partition; report only the last delivery."""
        raw = self.raw_produce
        if not records:
            return
        for key, value in records[:-1]:
            try:
                raw(topic, value, key, partition)
            except BufferError:
                self._produce_when_room(topic, key, value, partition, None, None)
            except KafkaException as exc:
                raise self._produce_error(exc) from exc
        key, value = records[-1]
        self.produce(topic, key, value, partition, None, on_last_delivered)

    def _produce_when_room(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        headers: Headers,
        on_delivery: DeliveryCallback | None,
    ) -> None:
        while True:
            self._producer.poll(0.05)
            try:
                self.raw_produce(
                    topic, value, key, partition, headers=headers, on_delivery=on_delivery
                )
                return
            except BufferError:
                continue
            except KafkaException as exc:
                raise self._produce_error(exc) from exc

    def _produce_error(self, exc: KafkaException) -> TaskMigrated | TransactionAborted:
        err = kafka_error(exc)
        if err is not None and err.code() == KafkaError._STATE:
            # The transaction already failed (librdkafka refuses produce in its abortable
            # state without saying so); abort() tells whether it is abortable or fatal.
            return TransactionAborted(f"produce refused: {err.str()}")
        return self._translate(exc, "produce")

    def poll(self, timeout: float = 0.0) -> int:
        return int(self._producer.poll(timeout))

    def __len__(self) -> int:
        return len(self._producer)

    def send_offsets(self, offsets: dict[tuple[str, int], int], group_metadata: object) -> None:
        """Add the consumed positions to the transaction (KIP-447: fenced by generation)."""
        self._expect(TxnState.IN_TRANSACTION)
        if not offsets:
            return
        parts = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        while True:
            try:
                self._producer.send_offsets_to_transaction(parts, group_metadata, self._timeout)
                return
            except KafkaException as exc:
                err = kafka_error(exc)
                if err is not None and err.retriable() and not err.txn_requires_abort():
                    continue
                raise self._translate(exc, "send_offsets_to_transaction") from exc

    def commit(self) -> None:
        """Commit; an unknown outcome is retried, never aborted."""
        self._expect(TxnState.IN_TRANSACTION)
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                self._producer.commit_transaction(self._timeout)
                self.state = TxnState.READY
                return
            except KafkaException as exc:
                err = kafka_error(exc)
                if err is not None and err.retriable() and not err.txn_requires_abort():
                    logger.warning(
                        "commit outcome unknown, retrying",
                        extra={"attempt": attempt, "error": err.str()},
                    )
                    continue
                raise self._translate(exc, "commit_transaction") from exc
        # Still unknown: a new producer's init_transactions() will fence the stale request.
        self.state = TxnState.FAILED
        raise TaskMigrated(f"commit of {self.transactional_id} did not complete; rebuilding")

    def abort(self) -> None:
        """Abort the open transaction (only after an abortable error or a lost assignment)."""
        self._expect(TxnState.IN_TRANSACTION)
        for _ in range(_COMMIT_ATTEMPTS):
            try:
                self._producer.abort_transaction(self._timeout)
                self.state = TxnState.READY
                return
            except KafkaException as exc:
                err = kafka_error(exc)
                if err is not None and err.retriable():
                    continue
                raise self._fail(exc, "abort_transaction") from exc
        self.state = TxnState.FAILED
        raise TaskMigrated(f"abort of {self.transactional_id} did not complete; rebuilding")

    def _translate(self, exc: KafkaException, during: str) -> TaskMigrated | TransactionAborted:
        err = translate_txn_error(exc, during)
        if isinstance(err, TransactionAborted):
            return err
        self.state = TxnState.FAILED
        return err if isinstance(err, TaskMigrated) else TaskMigrated(str(err))

    def close(self, timeout_s: float = 5.0) -> None:
        """Give in-flight messages a moment; an open transaction is left to be aborted."""
        try:
            self._producer.flush(timeout_s if self.state is not TxnState.FAILED else 0)
        except KafkaException as exc:  # a fenced or fatal producer refuses even to flush
            logger.info("producer closed after a fatal error", extra={"error": str(exc)})


class PlainProducer:
    """An idempotent, non-transactional producer (at-least-once mode, and test input)."""

    def __init__(self, conf: KafkaConfig) -> None:
        self.failures: list[str] = []
        full: dict[str, Any] = dict(conf)
        full["on_delivery"] = self._on_delivery
        self._producer = Producer(full)
        self.raw_produce: Callable[..., None] = self._producer.produce

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failures.append(str(err))

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int = -1,
        headers: Headers = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        while True:
            try:
                if headers is None and on_delivery is None:
                    self._producer.produce(topic, value, key, partition)  # positional: fast
                else:
                    self._producer.produce(
                        topic,
                        value,
                        key,
                        partition,
                        headers=headers,  # type: ignore[arg-type]
                        on_delivery=on_delivery,
                    )
                return
            except BufferError:
                self._producer.poll(0.05)

    def produce_all(
        self,
        topic: str,
        partition: int,
        records: Sequence[tuple[bytes, bytes | None]],
        on_last_delivered: DeliveryCallback,
    ) -> None:
        """Produce (key, value) records to one partition; report only the last delivery."""
        for i, (key, value) in enumerate(records):
            last = i == len(records) - 1
            self.produce(topic, key, value, partition, None, on_last_delivered if last else None)

    def poll(self, timeout: float = 0.0) -> int:
        return int(self._producer.poll(timeout))

    def __len__(self) -> int:
        return len(self._producer)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every message; raise TransactionAborted-like failure if any was lost."""
        deadline = time.monotonic() + timeout_s
        while len(self._producer) and time.monotonic() < deadline:
            self._producer.flush(max(0.0, deadline - time.monotonic()))
        if len(self._producer) or self.failures:
            lost, self.failures = self.failures, []
            raise TransactionAborted(
                f"{len(self._producer)} messages undelivered, {len(lost)} failed: {lost[:3]}"
            )

    def close(self, timeout_s: float = 5.0) -> None:
        self._producer.flush(timeout_s)
