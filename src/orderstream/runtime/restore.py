"""Restoring the stores of newly assigned partitions from their changelogs, before processing.

For each store partition: read the changelog's offsets, decide from the snapshot where replay
starts (``state.restore.plan_restore``), wait until every transaction that was open on the
changelog when we started has finished (its records may be committed later, and the committed
input offsets we start from may depend on them), then replay ``read_committed`` records to the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError
from prometheus_client import Gauge

from orderstream.errors import TaskMigrated
from orderstream.kafka.consumer import TP, ChangelogReader
from orderstream.runtime.metrics import RuntimeMetrics
from orderstream.runtime.tasks import PartitionTask
from orderstream.state import ChangeLoggingStore, apply_restored, plan_restore
from orderstream.state.store import Change

logger = logging.getLogger(__name__)

_BATCH = 10_000
_IDLE_LIMIT_S = 60.0


class Restorer:
    """Replays changelog partitions into store backends."""

    def __init__(
        self,
        reader: ChangelogReader,
        metrics: RuntimeMetrics,
        settle_timeout_s: float,
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        self.reader = reader
        self.metrics = metrics
        self.settle_timeout_s = settle_timeout_s
        self._beat = beat  # called while waiting or replaying: a restore is not a stall
        self.seconds = 0.0  # spent replaying, for the benchmark

    def restore_task(self, task: PartitionTask) -> None:
        for name, store in task.stores.items():
            task.restored_records += self.restore_store(name, store)

    def restore_store(self, name: str, store: ChangeLoggingStore) -> int:
        tp: TP = (store.changelog_topic, store.partition)
        backend = store.inner.backend
        low, stable = self._settled_end(tp)
        plan = plan_restore(backend, low, stable, f"{name}/{store.partition}")
        if plan.records == 0:
            return 0
        started = time.monotonic()
        gauge = self.metrics.restore_remaining.labels(name, str(store.partition))
        gauge.set(plan.records)
        replayed = self._replay(tp, store, start=plan.start, end=plan.end, gauge=gauge)
        gauge.set(0)
        self.seconds += time.monotonic() - started
        logger.info(
            "store partition restored",
            extra={
                "store": name,
                "partition": store.partition,
                "from": plan.start,
                "to": plan.end,
                "records": replayed,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return replayed

    def _settled_end(self, tp: TP) -> tuple[int, int]:
        """(low, last stable offset), once the LSO has caught up with the log end seen first."""
        low, stable, end = self.reader.offsets(tp)
        deadline = time.monotonic() + self.settle_timeout_s
        while stable < end:
            if time.monotonic() > deadline:
                raise TaskMigrated(f"changelog {tp} has a transaction that does not finish")
            self._beat()
            time.sleep(0.1)
            low, stable, _ = self.reader.offsets(tp)
        return low, stable

    @staticmethod
    def _end_of_partition(tp: TP, batch: list[Any]) -> int:
        """The end offset a partition-EOF event reports (errors other than EOF are fatal)."""
        position = -1
        for msg in batch:
            err = msg.error()
            if err is None:
                continue
            if err.code() != KafkaError._PARTITION_EOF:
                raise TaskMigrated(f"restoring {tp} failed: {err.str()}")
            position = max(position, int(msg.offset()))
        return position

    def _replay(self, tp: TP, store: ChangeLoggingStore, start: int, end: int, gauge: Gauge) -> int:
        backend = store.inner.backend
        reader = self.reader
        reader.start(tp, start)
        replayed = 0
        position = start
        idle_since = time.monotonic()
        try:
            while position < end:
                batch: list[Any] = reader.read(_BATCH, 0.05)
                changes: list[Change] = [(m.key(), m.value()) for m in batch if m.error() is None]
                if len(changes) != len(batch):
                    position = max(position, self._end_of_partition(tp, batch))
                if changes:
                    last = next(m for m in reversed(batch) if m.error() is None)
                    position = max(position, last.offset() + 1)
                    apply_restored(backend, changes, position)
                    replayed += len(changes)
                    self.metrics.restored_records.inc(len(changes))
                    gauge.set(max(0, end - position))
                if batch:
                    self._beat()
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > _IDLE_LIMIT_S:
                    raise TaskMigrated(f"restoring {tp} stalled at {position} (end {end})")
        finally:
            reader.stop()
        if backend.changelog_offset is None or backend.changelog_offset < position:
            apply_restored(backend, (), position)
        return replayed
