"""The contexts processors see (per record, per punctuation), and the one record path.

``run_record`` is what happens to one record, for the runtime's hot path and for
``orderstream.testing.driver`` alike: it returns ``OK`` (keep its writes, produce its emits),
``DeadLetter`` (its writes are undone; send it to ``<topic>.dlq``) or ``Transient`` (its writes are
undone; abort, back off and retry it, never dead-letter it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orderstream.errors import OrderstreamError, TransientError
from orderstream.kafka.errors import OutputTooLarge
from orderstream.runtime.api import Header, ProcessorContext, Record
from orderstream.runtime.dlq import RecordTooLarge
from orderstream.state import ChangeLoggingStore, KeyValueStore
from orderstream.state.overlay import Undo, undo

if TYPE_CHECKING:
    from orderstream.tracing import TraceLink

logger = logging.getLogger(__name__)

# (topic, key, value, headers) waiting to be produced once the record succeeded.
Emit = tuple[str, bytes | None, bytes | None, list[Header] | None]
Stores = dict[str, dict[int, ChangeLoggingStore]]  # by store name, then by partition
DEFAULT_MAX_BYTES = 1_048_576


class Ok:
    """The record succeeded (``OK`` is the only instance: no allocation per record)."""

    __slots__ = ()


OK = Ok()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """The record failed for a reason of its own: it goes to the DLQ with ``error``."""

    error: Exception


@dataclass(frozen=True, slots=True)
class Transient:
    """A dependency is briefly down: the record is retried, never dead-lettered."""

    error: TransientError


Outcome = Ok | DeadLetter | Transient


def run_record(
    process: Callable[[Record, ProcessorContext], None],
    record: Record,
    value_size: int,
    ctx: RecordContext,
    max_bytes: int,
) -> Outcome:
    """Run one record under ``ctx``'s savepoint; see the module docstring.

    ``value_size`` is the size of the record's value: the limit applies to the value, the
    same for inputs and outputs (the producer leaves room for keys and headers).
    """
    try:
        if value_size > max_bytes:
            raise RecordTooLarge(f"value of {value_size} bytes is over {max_bytes}")
        process(record, ctx)
    except TransientError as exc:
        ctx.rollback()
        return Transient(exc)
    except Exception as exc:
        ctx.rollback()
        return DeadLetter(exc)
    if ctx.undo:
        ctx.undo.clear()
    return OK


class StoreNotAssigned(OrderstreamError):
    """The record's partition of the store is not assigned here (a co-partitioning mistake)."""


class _PartitionStores(dict[str, ChangeLoggingStore]):
    """The stores of one partition by name; a name not assigned here is ``StoreNotAssigned``."""

    __slots__ = ("partition",)
    partition: int

    def __missing__(self, name: str) -> ChangeLoggingStore:
        raise StoreNotAssigned(
            f"store {name!r} partition {self.partition} is not assigned to this instance"
        )


class RecordContext:
    """Buffers a record's emits and runs its store writes under a savepoint.

    The stores of the record's partition log how to undo each write to ``undo``, one list shared
    by all of them: the runtime empties it when the record succeeds, and ``rollback`` replays it
    when ``process`` raises, so a record that goes to the DLQ leaves nothing else behind.

    ``store(name)`` is the bound ``__getitem__`` of the partition's stores (filled in place by
    ``start``): processors call it once per record, and it costs no Python frame.
    """

    __slots__ = ("_current", "_max", "_stores", "emits", "store", "undo")

    def __init__(self, stores: Stores, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._stores = stores
        self._max = max_bytes
        self._current = _PartitionStores()
        self._current.partition = -1
        self.store: Callable[[str], KeyValueStore] = self._current.__getitem__
        self.undo: list[Undo] = []
        self.emits: list[Emit] = []

    def start(self, partition: int) -> None:
        """The following records come from ``partition``: resolve its stores once.

        Writes made between records (punctuation) are not a record's: forget their undo.
        """
        current = self._current
        current.clear()
        current.partition = partition
        current.update(
            (name, by_partition[partition])
            for name, by_partition in self._stores.items()
            if partition in by_partition
        )
        for store in current.values():
            store.inner.log_undo_to(self.undo)
        self.undo.clear()

    def emit(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        """Buffer an output; one over the size limit fails the record (it goes to the DLQ)."""
        if value is not None and len(value) > self._max:
            raise OutputTooLarge(f"an output to {topic} of {len(value)} bytes is over {self._max}")
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
    """The punctuation context: every assigned partition of a store, and emit.

    ``causes`` maps the index of an emit in ``emits`` to the trace links it was given: the
    runtime gives those emits their trace context (``RecordTracer.trace_caused``) when tracing
    is on, and forgets them otherwise.
    """

    def __init__(self, stores: Stores, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._stores = stores
        self._max = max_bytes
        self.emits: list[Emit] = []
        self.causes: dict[int, tuple[TraceLink, ...]] = {}
        self.dropped = 0  # outputs over the size limit, not produced

    def stores(self, name: str) -> dict[int, KeyValueStore]:
        return dict(self._stores.get(name, {}))

    def emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] = (),
        caused_by: Sequence[TraceLink] = (),
    ) -> None:
        """Buffer an output; one over the size limit is dropped and counted (no record to
        dead-letter: punctuation has no input)."""
        if value is None or len(value) <= self._max:
            if caused_by:
                self.causes[len(self.emits)] = tuple(caused_by)
            self.emits.append((topic, key, value, list(headers) if headers else None))
            return
        self.dropped += 1
        logger.error(
            "punctuation output dropped: over the size limit",
            extra={"topic": topic, "bytes": len(value), "limit": self._max},
        )
