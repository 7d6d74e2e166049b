"""The contexts processors see: per record (``RecordContext``) and per punctuation."""

from __future__ import annotations

from collections.abc import Sequence

from orderstream.errors import OrderstreamError
from orderstream.runtime.api import Header
from orderstream.state import ChangeLoggingStore, KeyValueStore
from orderstream.state.overlay import Undo, undo

# (topic, key, value, headers) waiting to be produced once the record succeeded.
Emit = tuple[str, bytes | None, bytes | None, list[Header] | None]


class StoreNotAssigned(OrderstreamError):
    """The record's partition of the store is not assigned here (a co-partitioning mistake)."""


class RecordContext:
    """Buffers a record's emits and runs its store writes under a savepoint.

    The stores of the record's partition log how to undo each write to ``undo``, one list shared
    by all of them: the runtime empties it when the record succeeds, and ``rollback`` replays it
    when ``process`` raises, so a record that goes to the DLQ leaves nothing else behind.
    """

    __slots__ = ("_current", "_partition", "_stores", "emits", "undo")

    def __init__(self, stores: dict[str, dict[int, ChangeLoggingStore]]) -> None:
        self._stores = stores
        self._partition = -1
        self._current: dict[str, ChangeLoggingStore] = {}
        self.undo: list[Undo] = []
        self.emits: list[Emit] = []

    def start(self, partition: int) -> None:
        """The following records come from ``partition``: resolve its stores once.

        Writes made between records (punctuation) are not a record's: forget their undo.
        """
        self._partition = partition
        self._current = {
            name: by_partition[partition]
            for name, by_partition in self._stores.items()
            if partition in by_partition
        }
        for store in self._current.values():
            store.inner.log_undo_to(self.undo)
        self.undo.clear()

    def store(self, name: str) -> KeyValueStore:
        try:
            return self._current[name]
        except KeyError:
            raise StoreNotAssigned(
                f"store {name!r} partition {self._partition} is not assigned to this instance"
            ) from None

    def emit(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        self.emits.append((topic, key, value, list(headers) if headers else None))

    def succeed(self) -> None:
        """Keep the record's writes (its emits are taken by the caller)."""
        if self.undo:
            self.undo.clear()

    def rollback(self) -> None:
        """Undo the record's writes and drop its emits."""
        if self.undo:
            undo(self.undo)
        self.emits.clear()


class CycleContext:
    """The punctuation context: every assigned partition of a store, and emit."""

    def __init__(self, stores: dict[str, dict[int, ChangeLoggingStore]]) -> None:
        self._stores = stores
        self.emits: list[Emit] = []

    def stores(self, name: str) -> dict[int, KeyValueStore]:
        return dict(self._stores.get(name, {}))

    def emit(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        self.emits.append((topic, key, value, list(headers) if headers else None))
