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

``Checkpoint.abort`` (after an abortable error, or when partitions are lost) aborts the
transaction, drops every overlay, and rewinds the consumer to the committed offsets, since the
consumer does not rewind by itself (KAFKA-17582).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

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
        return {
            task.tp: task.next_offset
            for task in self.registry.tasks.values()
            if task.next_offset is not None
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

    def _snapshot_if_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_snapshot < self._snapshot_interval_s:
            return
        self._last_snapshot = now
        for store in self.registry.all_stores():
            store.inner.backend.snapshot()

    def snapshot_now(self) -> None:
        self._snapshot_if_due(force=True)

    # -- abort ----------------------------------------------------------------------------

    def abort(self, rewind: bool = True) -> None:
        """Abort the open transaction, drop uncommitted state, rewind to committed offsets."""
        self._abort_transaction()
        self._drop_overlays()
        if rewind:
            self.rewind()
        self.metrics.txn_aborts.inc()

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
