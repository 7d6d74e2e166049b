"""The commit protocol: how a cycle's outputs, state and input offsets become durable together.

``Checkpoint.commit`` runs these steps, one method each, in this order:

1. ``_log_changelogs``: every store partition written in this cycle logs its pending changes
   to its changelog partition (inside the transaction, under exactly-once);
2. ``_processed_offsets``: the next offset of every partition that made progress;
3. ``_commit_outputs``: exactly-once sends the offsets with the consumer's group metadata
   (KIP-447) and commits the transaction; at-least-once flushes the producer, then commits the
   offsets to the group;
4. ``_apply_committed``: the store overlays are applied to their backends together with the
   changelog offset they now reflect, and each task remembers its committed offset;
5. ``_snapshot_if_due``: local snapshots are written every ``snapshot_interval_ms``.

A transaction with writes but no input progress (punctuation output, a dedupe sweep) still
sends the committed offsets of every running task: KIP-447 then checks the group generation, so
a zombie that lost its partitions cannot commit what it punctuated.

Every way a transaction ends is a method here; the callers only say which one they need:

=============================  ==================================  ===========================
what happened                  ending                              called from
=============================  ==================================  ===========================
commit interval passed, or     ``commit`` (KIP-447 offsets, then   ``run_cycle``,
the transaction is full        the commit)                         ``restore_assigned``
``TransactionAborted`` in a    ``abort_and_rewind``: abort, drop   ``run_cycle``
cycle (abortable Kafka error,  overlays and pending emits, seek
``TransientError``)            to committed offsets (KAFKA-17582)
partitions revoked             ``finish_or_abort``: commit, or on  ``on_revoke``
                               ``TransactionAborted``
                               ``abort_in_place``, then ``rewind``
                               once the revoked tasks are closed
partitions lost                ``abort_in_place``, close, then     ``on_lost``
                               ``rewind`` what is still ours
graceful shutdown              ``finish_or_abort``                 ``close_gracefully``
``TaskMigrated`` (fenced,      nothing is ended here: the session  ``ProcessingLoop``
fatal, commit outcome unknown  drops every overlay and the
after its retries,             producer; a new session's
``BrokerUnavailable``)         ``init()`` fences the old epoch
=============================  ==================================  ===========================

A commit whose outcome is unknown is never aborted (``TransactionalProducer.commit``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING

from orderstream.errors import TransactionAborted
from orderstream.kafka.consumer import TP, GroupConsumer
from orderstream.kafka.producer import OutputProducer, PlainProducer, TransactionalProducer
from orderstream.runtime.metrics import RuntimeMetrics
from orderstream.runtime.tasks import TaskRegistry, TaskState
from orderstream.state import Change

logger = logging.getLogger(__name__)


class Checkpoint:
    """The commit protocol's steps (see the module docstring); the subclasses say how outputs
    and offsets become durable: in a transaction, or flushed then committed."""

    def __init__(
        self,
        output: OutputProducer,
        consumer: GroupConsumer,
        registry: TaskRegistry,
        metrics: RuntimeMetrics,
        snapshot_interval_ms: int,
    ) -> None:
        self.output = output
        self.consumer = consumer
        self.registry = registry
        self.metrics = metrics
        self._snapshot_interval_s = snapshot_interval_ms / 1000
        self._last_snapshot = time.monotonic()
        self._changelog_ends: dict[TP, int] = {}
        self.opened_at = 0.0
        self.records = 0
        self.wrote = False  # the open transaction holds writes (outputs, changelog records)
        # Called on every abort: the session drops emits not produced yet.
        self.on_abort: list[Callable[[], None]] = []

    # -- the open transaction -------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        raise NotImplementedError

    def ensure_open(self, clock_start: float | None = None) -> None:
        """Open a transaction unless one is open; its commit interval counts from
        ``clock_start`` (default: now)."""
        raise NotImplementedError

    def log_changes(self, topic: str, partition: int, changes: Sequence[Change]) -> None:
        """The ChangelogSink: produce a store partition's changes; track the last offset."""
        self.wrote = True
        self.output.produce_all(topic, partition, changes, self._changelog_delivered)

    def _changelog_delivered(self, err: Any, msg: Any) -> None:
        if err is None:
            self._changelog_ends[(msg.topic(), msg.partition())] = msg.offset() + 1

    # -- commit ---------------------------------------------------------------------------

    def commit(self) -> None:
        """Make this cycle's outputs, state changes and input offsets durable, together."""
        if not self.is_open:
            return
        started = time.perf_counter()
        self._log_changelogs()
        offsets = self._processed_offsets()
        self._commit_outputs(offsets)
        self._apply_committed(offsets)
        self._snapshot_if_due()
        self.metrics.commit_done(time.perf_counter() - started)

    def _log_changelogs(self) -> None:
        for store in self.registry.all_stores():
            store.flush(self)

    def _processed_offsets(self) -> dict[TP, int]:
        offsets = {
            task.tp: task.next_offset
            for task in self.registry.tasks.values()
            if task.next_offset is not None
        }
        if offsets or not self.wrote:
            return offsets
        # Writes without input progress: send the committed offsets anyway, so that the group
        # coordinator checks our generation (KIP-447) and fences us if we are a zombie.
        return {
            task.tp: task.committed_offset
            for task in self.registry.running()
            if task.committed_offset is not None and task.committed_offset != OFFSET_BEGINNING
        }

    def _commit_outputs(self, offsets: dict[TP, int]) -> None:
        raise NotImplementedError

    def _apply_committed(self, offsets: dict[TP, int]) -> None:
        self.output.poll(0)  # serve the changelog delivery reports
        ends, self._changelog_ends = self._changelog_ends, {}
        for task in self.registry.tasks.values():
            for store in task.stores.values():
                # An unknown offset keeps the older one: replaying more is safe, less is not.
                store.inner.commit(ends.get((store.changelog_topic, store.partition)))
            if task.tp in offsets:
                task.committed_offset = offsets[task.tp]
                task.next_offset = None
        self.wrote = False

    def _snapshot_if_due(self) -> None:
        if time.monotonic() - self._last_snapshot >= self._snapshot_interval_s:
            self.snapshot_now()

    def snapshot_now(self) -> None:
        self._last_snapshot = time.monotonic()
        for store in self.registry.all_stores():
            store.inner.backend.snapshot()

    # -- abort ----------------------------------------------------------------------------

    def finish_or_abort(self) -> bool:
        """Commit; if the transaction cannot be committed, abort it in place (no rewind: the
        caller rewinds once it has closed what it is giving up). True when it committed."""
        try:
            self.commit()
        except TransactionAborted as exc:
            logger.warning("commit aborted", extra={"error": str(exc)})
            self.abort_in_place(str(exc))
            return False
        return True

    def abort_and_rewind(self, reason: str) -> None:
        """Abort the open transaction, drop uncommitted state, rewind to committed offsets."""
        self.abort_in_place(reason)
        self.rewind()

    def abort_in_place(self, reason: str) -> None:
        """Abort the open transaction and drop uncommitted state; positions stay as they are."""
        was_open = self.is_open
        self._abort_transaction()
        self._drop_overlays()
        self.wrote = False
        for drop in self.on_abort:
            drop()
        if was_open:
            self.metrics.aborted(reason)

    def _abort_transaction(self) -> None:
        raise NotImplementedError

    def _drop_overlays(self) -> None:
        for store in self.registry.all_stores():
            store.inner.abort()

    def rewind(self) -> None:
        """Seek every running task back to its committed offset."""
        for task in self.registry.tasks.values():
            task.next_offset = None
            if task.state is TaskState.RUNNING and task.committed_offset is not None:
                self.consumer.seek(task.tp, task.committed_offset)
                logger.info("rewound", extra={"tp": task.tp, "offset": task.committed_offset})


class ExactlyOnceCheckpoint(Checkpoint):
    """Outputs, changelogs and input offsets commit in one Kafka transaction."""

    def __init__(
        self,
        producer: TransactionalProducer,
        consumer: GroupConsumer,
        registry: TaskRegistry,
        metrics: RuntimeMetrics,
        snapshot_interval_ms: int,
    ) -> None:
        super().__init__(producer, consumer, registry, metrics, snapshot_interval_ms)
        self.txn = producer

    @property
    def is_open(self) -> bool:
        return self.txn.in_transaction

    def ensure_open(self, clock_start: float | None = None) -> None:
        if not self.txn.in_transaction:
            self.txn.begin()
            self.opened_at = time.monotonic() if clock_start is None else clock_start
            self.records = 0

    def _commit_outputs(self, offsets: dict[TP, int]) -> None:
        self.txn.send_offsets(offsets, self.consumer.group_metadata())
        self.txn.commit()

    def _abort_transaction(self) -> None:
        if self.txn.in_transaction:
            self.txn.abort()
        self._changelog_ends = {}


class AtLeastOnceCheckpoint(Checkpoint):
    """The same protocol without a transaction: flush outputs, then commit offsets."""

    def __init__(
        self,
        producer: PlainProducer,
        consumer: GroupConsumer,
        registry: TaskRegistry,
        metrics: RuntimeMetrics,
        snapshot_interval_ms: int,
    ) -> None:
        super().__init__(producer, consumer, registry, metrics, snapshot_interval_ms)
        self.plain = producer
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def ensure_open(self, clock_start: float | None = None) -> None:
        if not self._open:
            self._open = True
            self.opened_at = time.monotonic() if clock_start is None else clock_start
            self.records = 0

    def _commit_outputs(self, offsets: dict[TP, int]) -> None:
        self.plain.flush()
        self.consumer.commit(offsets)
        self._open = False

    def _abort_transaction(self) -> None:
        # Outputs already sent stay sent: that is at-least-once.
        self._open = False
        self._changelog_ends = {}
