"""Changelogging as a wrapper: the store knows nothing about Kafka, this wrapper logs its writes.

Writes go to the transactional overlay. ``flush`` hands every pending write of the open transaction
to a ``ChangelogSink`` (the runtime produces them to the changelog partition inside the same
transaction) just before the commit; a key written many times in one transaction is logged once,
with its last value, as Kafka Streams does behind its record cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from orderstream.state.overlay import TransactionalStore
from orderstream.state.store import Change


class ChangelogSink(Protocol):
    """Where a store partition's changes go: the changelog topic, inside the transaction."""

    def log_changes(self, topic: str, partition: int, changes: Sequence[Change]) -> None: ...


class ChangeLoggingStore:
    """A ``KeyValueStore`` logging the writes of ``inner`` to one changelog partition."""

    def __init__(self, inner: TransactionalStore, changelog_topic: str, partition: int) -> None:
        self.inner = inner
        self.changelog_topic = changelog_topic
        self.partition = partition
        # Reads and writes go straight to the overlay (logging happens in flush): binding
        # them here saves a Python call per store operation on the hot path.
        self.get = inner.get  # type: ignore[method-assign]
        self.put = inner.put  # type: ignore[method-assign]
        self.delete = inner.delete  # type: ignore[method-assign]

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.inner.put(key, value)

    def delete(self, key: bytes) -> None:
        self.inner.delete(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.items()

    def flush(self, sink: ChangelogSink) -> int:
        """Log the open transaction's writes; returns how many records were logged."""
        changes = self.inner.pending()
        if changes:
            sink.log_changes(self.changelog_topic, self.partition, changes)
        return len(changes)
