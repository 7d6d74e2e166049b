"""The producers: the transactional one (the ONE class that begins, commits and aborts
transactions) and the plain idempotent one.

States of ``TransactionalProducer`` (checked in ``_expect``)::

    NEW --init()--> READY --begin()--> IN_TRANSACTION --commit()/abort()--> READY
    any --fatal error, fenced, or retries run out--> FAILED  (raises TaskMigrated)

Error handling follows librdkafka's transactional rules (reference/exactly-once.md): retriable
errors retry the same call; ``txn_requires_abort`` becomes ``TransactionAborted`` (the caller
aborts and rewinds); fatal errors and fencing become ``TaskMigrated``. A commit whose outcome is
unknown (timed out) is never aborted: it is retried, and if it still cannot complete the producer
is FAILED and destroyed, so that a new one fences the stale request on ``init()``.

The retry policy: every retry goes through ``_retry``, which follows this table::

    call                 attempts  wait per attempt  backoff  when the attempts run out
    init_transactions    3         8 s               0.5 s    FAILED: TaskMigrated (rebuild)
    send_offsets         3         8 s               0.2 s    TransactionAborted (abort, rewind)
    commit_transaction   3         8 s               0.2 s    FAILED: TaskMigrated (never abort)
    abort_transaction    3         7 s               0.2 s    FAILED: TaskMigrated (rebuild)
                         (after up to 3 s for in-flight messages to finish: ``abort``)
    produce, queue full  until room, for at most 24 s         TransactionAborted (abort, rewind)

Every attempt runs under ``kafka.watchdog``: librdkafka can block past its own timeout (a
restarted group coordinator, librdkafka issues 5456/5511), and a service then exits for its
supervisor to restart it rather than hang. Each budget (attempts x wait, plus the backoffs
between them) stays within ``RETRY_BUDGET_S``,
which the loop's ``/healthz`` stall limit is derived from: a probe never calls a retrying
instance stalled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from orderstream.config import KafkaConfig
from orderstream.errors import OrderstreamError, TaskMigrated, TransactionAborted
from orderstream.kafka.errors import OutputTooLarge, kafka_error, translate_txn_error
from orderstream.kafka.watchdog import WATCHDOG

logger = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]] | None
DeliveryCallback = Callable[[Any, Any], None]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    wait_s: float  # the librdkafka call's own timeout, per attempt
    backoff_s: float
    exhausted: type[OrderstreamError]  # raised when the attempts run out

    @property
    def budget_s(self) -> float:
        return self.attempts * self.wait_s + (self.attempts - 1) * self.backoff_s


RETRY_BUDGET_S = 25.0
RETRY_POLICY: dict[str, RetryPolicy] = {
    "init_transactions": RetryPolicy(3, 8.0, 0.5, TaskMigrated),
    "send_offsets_to_transaction": RetryPolicy(3, 8.0, 0.2, TransactionAborted),
    "commit_transaction": RetryPolicy(3, 8.0, 0.2, TaskMigrated),
    "abort_transaction": RetryPolicy(3, 7.0, 0.2, TaskMigrated),
}
ABORT_DRAIN_S = 3.0  # before an abort, in-flight messages may finish (part of its budget)
QUEUE_FULL_WAIT_S = 24.0


class OutputProducer:
    """What the runtime's hot path and checkpoint need from either producer: produce with the
    fast positional call (``raw_produce``, confluent_kafka's own, for the hot path), falling
    back to one slow path that waits for queue room and translates refusals."""

    _producer: Producer
    raw_produce: Callable[..., None]

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int = -1,
        headers: Headers = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Produce, waiting for queue space when it is full."""
        if headers is None and on_delivery is None:
            # Keyword arguments cost confluent_kafka about 1 us per call: the common case
            # passes only positional ones.
            try:
                self.raw_produce(topic, value, key, partition)
                return
            except (BufferError, KafkaException):
                pass  # the slow path waits for room or translates the refusal
        self.produce_slowly(topic, key, value, partition, headers, on_delivery)

    def produce_slowly(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        headers: Headers,
        on_delivery: DeliveryCallback | None,
    ) -> None:
        """Produce with every argument; wait for room (up to ``QUEUE_FULL_WAIT_S``) and
        translate errors: the one slow path."""
        deadline = time.monotonic() + QUEUE_FULL_WAIT_S
        while True:
            try:
                self.raw_produce(
                    topic, value, key, partition, headers=headers, on_delivery=on_delivery
                )
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise TransactionAborted(
                        f"the producer queue stayed full for {QUEUE_FULL_WAIT_S:.0f}s "
                        "(is the cluster reachable?)"
                    ) from None
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise self._refused(exc) from exc

    def _refused(self, exc: KafkaException) -> OrderstreamError:
        raise NotImplementedError

    def produce_all(
        self,
        topic: str,
        partition: int,
        records: Sequence[tuple[bytes, bytes | None]],
        on_last_delivered: DeliveryCallback,
    ) -> None:
        """Produce (key, value) records to one partition; report only the last delivery."""
        if not records:
            return
        raw = self.raw_produce
        for key, value in records[:-1]:
            try:
                raw(topic, value, key, partition)
            except (BufferError, KafkaException):
                self.produce_slowly(topic, key, value, partition, None, None)
        key, value = records[-1]
        self.produce(topic, key, value, partition, None, on_last_delivered)

    def poll(self, timeout: float = 0.0) -> int:
        return int(self._producer.poll(timeout))

    def __len__(self) -> int:
        return len(self._producer)

    def close(self, timeout_s: float = 5.0) -> None:
        raise NotImplementedError


class TxnState(Enum):
    NEW = "new"
    READY = "ready"
    IN_TRANSACTION = "in_transaction"
    FAILED = "failed"


class TransactionalProducer(OutputProducer):
    """One stable ``transactional.id`` per process; see the module docstring for the rules."""

    def __init__(self, conf: KafkaConfig, producer: Producer | None = None) -> None:
        self.transactional_id = str(conf["transactional.id"])
        self._producer = producer if producer is not None else Producer(conf)
        self.raw_produce = self._producer.produce
        self.state = TxnState.NEW

    def _expect(self, *states: TxnState) -> None:
        if self.state not in states:
            raise TaskMigrated(
                f"producer {self.transactional_id} is {self.state.value}, "
                f"expected {'/'.join(s.value for s in states)}"
            )

    def _retry(self, call: str, run: Callable[[float], object], abortable: bool) -> None:
        """Run ``run(timeout)`` under ``RETRY_POLICY[call]``; see the module docstring."""
        policy = RETRY_POLICY[call]
        for attempt in range(1, policy.attempts + 1):
            try:
                with WATCHDOG.guard(call, policy.wait_s):
                    run(policy.wait_s)
                return
            except KafkaException as exc:
                err = kafka_error(exc)
                if err is None or not err.retriable() or err.txn_requires_abort():
                    raise self._translate(exc, call, abortable) from exc
                logger.warning(
                    "%s did not complete (attempt %d of %d)",
                    call,
                    attempt,
                    policy.attempts,
                    extra={"error": err.str()},
                )
                if attempt < policy.attempts:
                    time.sleep(policy.backoff_s)
        if policy.exhausted is not TransactionAborted:
            self.state = TxnState.FAILED
        raise policy.exhausted(
            f"{call} of {self.transactional_id} did not complete in {policy.attempts} attempts"
            + ("; rebuilding" if self.state is TxnState.FAILED else "; aborting")
        )

    def _translate(self, exc: KafkaException, call: str, abortable: bool) -> OrderstreamError:
        err = translate_txn_error(exc, call)
        if abortable and isinstance(err, TransactionAborted | OutputTooLarge):
            return err
        self.state = TxnState.FAILED
        return err if isinstance(err, TaskMigrated) else TaskMigrated(str(err))

    def init(self) -> None:
        """Register the transactional.id: fences older producers and aborts their open txn."""
        self._expect(TxnState.NEW)
        self._retry("init_transactions", self._producer.init_transactions, abortable=False)
        self.state = TxnState.READY

    @property
    def in_transaction(self) -> bool:
        return self.state is TxnState.IN_TRANSACTION

    def begin(self) -> None:
        self._expect(TxnState.READY)
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            raise self._translate(exc, "begin_transaction", abortable=False) from exc
        self.state = TxnState.IN_TRANSACTION

    def _refused(self, exc: KafkaException) -> OrderstreamError:
        err = kafka_error(exc)
        if err is not None and err.code() == KafkaError._STATE and self.in_transaction:
            # librdkafka refuses produce in its abortable state without saying so; abort()
            # then tells whether the transaction is abortable or the producer fatal.
            return TransactionAborted(
                f"produce refused: the transaction is in an abortable state (an earlier produce "
                f"or delivery in it failed): {err.str()}"
            )
        return self._translate(exc, "produce", abortable=True)

    def send_offsets(self, offsets: dict[tuple[str, int], int], group_metadata: object) -> None:
        """Add the consumed positions to the transaction (KIP-447: fenced by generation)."""
        self._expect(TxnState.IN_TRANSACTION)
        if not offsets:
            return
        parts = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        send = self._producer.send_offsets_to_transaction
        self._retry(
            "send_offsets_to_transaction",
            lambda timeout: send(parts, group_metadata, timeout),
            abortable=True,
        )

    def commit(self) -> None:
        """Commit; an unknown outcome is retried, never aborted."""
        self._expect(TxnState.IN_TRANSACTION)
        self._retry("commit_transaction", self._producer.commit_transaction, abortable=True)
        self.state = TxnState.READY

    def abort(self) -> None:
        """Abort the open transaction (only after an abortable error or a lost assignment).

        Messages still in flight are let finish first (for up to ``ABORT_DRAIN_S``): the abort
        would purge them, and a purged message the broker did write leaves a gap in the
        partition's sequence numbers, which fails the NEXT transaction's commit ("skipped
        sequence numbers") and costs a second abort for one fault. The drain makes that rare,
        not impossible (under load librdkafka can still purge): that second abort bumps the
        epoch, the transaction is replayed like any aborted one, and nothing is lost.
        """
        self._expect(TxnState.IN_TRANSACTION)
        self._producer.flush(ABORT_DRAIN_S)
        self._retry("abort_transaction", self._producer.abort_transaction, abortable=False)
        self.state = TxnState.READY

    def close(self, timeout_s: float = 5.0) -> None:
        """Give in-flight messages a moment, then destroy the client (an open transaction is
        left to be aborted by the next owner of the transactional.id)."""
        failed = self.state is TxnState.FAILED
        try:
            self._producer.flush(0 if failed else timeout_s)
        except KafkaException as exc:  # a fenced or fatal producer refuses even to flush
            logger.info("producer closed after a fatal error", extra={"error": str(exc)})
        _destroy(self._producer)
        self.state = TxnState.FAILED


def _destroy(producer: Producer) -> None:
    """Release the librdkafka handle now, not when the GC finds the callback cycle."""
    try:
        producer.close()
    except (KafkaException, RuntimeError) as exc:
        logger.info("producer handle already closed", extra={"error": str(exc)})


class PlainProducer(OutputProducer):
    """An idempotent, non-transactional producer (at-least-once mode, and test input)."""

    def __init__(self, conf: KafkaConfig) -> None:
        self.failures: list[str] = []
        full: dict[str, Any] = dict(conf)
        full["on_delivery"] = self._on_delivery
        self._producer = Producer(full)
        self.raw_produce = self._producer.produce

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failures.append(str(err))

    def _refused(self, exc: KafkaException) -> OrderstreamError:
        err = translate_txn_error(exc, "produce")
        return err if isinstance(err, OutputTooLarge) else TaskMigrated(str(err))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every message; raise TransactionAborted (rewind, resend) if any was lost."""
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
        _destroy(self._producer)
