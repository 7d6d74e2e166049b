"""Partition tasks: one per assigned input partition, with its store partitions.

Task states (transitions checked in ``PartitionTask.transition``)::

    RESTORING --restored--> RUNNING --revoked/lost--> CLOSED
    RESTORING --revoked/lost--> CLOSED
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from orderstream.errors import TaskCorrupted
from orderstream.kafka.consumer import TP
from orderstream.runtime.api import StoreSpec
from orderstream.state import (
    ChangeLoggingStore,
    MemoryBackend,
    SqliteSnapshotBackend,
    StoreBackend,
    TransactionalStore,
    snapshot_path,
)

logger = logging.getLogger(__name__)


class TaskState(Enum):
    RESTORING = "restoring"
    RUNNING = "running"
    CLOSED = "closed"


_TRANSITIONS = {
    TaskState.RESTORING: {TaskState.RUNNING, TaskState.CLOSED},
    TaskState.RUNNING: {TaskState.CLOSED},
    TaskState.CLOSED: set(),
}


@dataclass(eq=False)
class PartitionTask:
    """An assigned input partition: its stores, committed offset and uncommitted progress."""

    tp: TP
    stores: dict[str, ChangeLoggingStore]
    state: TaskState = TaskState.RESTORING
    committed_offset: int | None = None  # where an abort rewinds to
    next_offset: int | None = None  # after the last record processed in the open transaction
    rewind_to: int | None = None  # a record arrived before the task ran: replay from here
    restored_records: int = field(default=0)

    def transition(self, new: TaskState) -> None:
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"task {self.tp} cannot go from {self.state.value} to {new.value}")
        self.state = new


def open_backend(spec: StoreSpec, partition: int, state_dir: Path | None) -> StoreBackend:
    """An in-memory backend, or the SQLite snapshot (wiped when corrupt)."""
    if state_dir is None:
        return MemoryBackend()
    path = snapshot_path(state_dir, spec.name, partition)
    try:
        return SqliteSnapshotBackend(path, spec.changelog_topic, partition)
    except TaskCorrupted as exc:
        logger.warning(
            "corrupt snapshot wiped",
            extra={"store": spec.name, "partition": partition, "error": str(exc)},
        )
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return SqliteSnapshotBackend(path, spec.changelog_topic, partition)


class TaskRegistry:
    """The tasks of this instance, and a by-name, by-partition index of their stores.

    Only running tasks' stores are in the index that processors see: a store that is still
    restoring must not be read or written.
    """

    def __init__(self, specs: tuple[StoreSpec, ...], state_dir: Path | None) -> None:
        self.specs = specs
        self.state_dir = state_dir
        self.tasks: dict[TP, PartitionTask] = {}
        self.stores: dict[str, dict[int, ChangeLoggingStore]] = {s.name: {} for s in specs}

    def create(self, tp: TP) -> PartitionTask:
        topic, partition = tp
        stores: dict[str, ChangeLoggingStore] = {}
        for spec in self.specs:
            if spec.source_topic == topic:
                backend = open_backend(spec, partition, self.state_dir)
                store = ChangeLoggingStore(
                    TransactionalStore(backend), spec.changelog_topic, partition
                )
                stores[spec.name] = store
        task = PartitionTask(tp=tp, stores=stores)
        self.tasks[tp] = task
        return task

    def activate(self, task: PartitionTask) -> None:
        """The task is restored: it runs, and processors may now see its stores."""
        task.transition(TaskState.RUNNING)
        for name, store in task.stores.items():
            self.stores[name][task.tp[1]] = store

    def close(self, tp: TP) -> None:
        """Close a task: snapshot its committed state and release its stores."""
        for backend in self._release(tp):
            try:
                backend.snapshot()
            finally:
                backend.close()

    def discard(self, tp: TP) -> None:
        """Close a task without a snapshot (after a failure) and release its stores."""
        for backend in self._release(tp):
            backend.close()

    def _release(self, tp: TP) -> list[StoreBackend]:
        task = self.tasks.pop(tp, None)
        if task is None:
            return []
        task.transition(TaskState.CLOSED)
        for name in task.stores:
            self.stores[name].pop(tp[1], None)
        return [store.inner.backend for store in task.stores.values()]

    def running(self) -> list[PartitionTask]:
        return [t for t in self.tasks.values() if t.state is TaskState.RUNNING]

    def restoring(self) -> list[PartitionTask]:
        return [t for t in self.tasks.values() if t.state is TaskState.RESTORING]

    def all_stores(self) -> list[ChangeLoggingStore]:
        return [s for task in self.tasks.values() for s in task.stores.values()]
