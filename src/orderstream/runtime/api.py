"""The runtime's contract with processors: records in, a context to emit and keep state.

Pure types without I/O; ``loop.py`` drives them against Kafka and ``orderstream.testing.driver``
without a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import FrozenInstanceError, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from orderstream.naming import prefixed
from orderstream.state.store import KeyValueStore

if TYPE_CHECKING:
    from orderstream.tracing import TraceLink

Header = tuple[str, bytes]


@dataclass(frozen=True)
class Record:
    """One consumed record, undecoded."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp_ms: int = 0


_new = object.__new__
_set = object.__setattr__
_FIELDS = ("topic", "partition", "offset", "key", "value", "headers", "timestamp_ms")


class ConsumedRecord(Record):
    """A Record over a consumed confluent_kafka Message, whose fields are read on access.

    Building a frozen dataclass per record costs about as much as consuming and producing
    it; most processors read two fields. It compares, hashes and prints like a ``Record``;
    ``dataclasses.replace``, copy and pickle give a plain ``Record``.
    """

    # A slot: setting it allocates no instance dict.
    __slots__ = ("_message",)
    _message: Any

    def __new__(cls, *args: object, **kwargs: object) -> Record:  # type: ignore[misc]
        if args or kwargs:  # dataclasses.replace() and friends: a plain Record
            return Record(*args, **kwargs)  # type: ignore[arg-type]
        return _new(cls)

    # ``of`` without a Python frame: ``object.__new__(ConsumedRecord)``, then this.
    set_message: Callable[[ConsumedRecord, Any], None]

    @staticmethod
    def of(message: Any) -> ConsumedRecord:
        record: ConsumedRecord = _new(ConsumedRecord)
        _set(record, "_message", message)
        return record

    @property
    def topic(self) -> str:
        topic: str = self._message.topic()
        return topic

    @property
    def partition(self) -> int:
        partition: int = self._message.partition()
        return partition

    @property
    def offset(self) -> int:
        offset: int = self._message.offset()
        return offset

    @property
    def key(self) -> bytes | None:
        key: bytes | None = self._message.key()
        return key

    @property
    def value(self) -> bytes | None:
        value: bytes | None = self._message.value()
        return value

    @property
    def headers(self) -> tuple[Header, ...]:
        return tuple(self._message.headers() or ())

    @property
    def timestamp_ms(self) -> int:
        timestamp_ms: int = self._message.timestamp()[1]
        return timestamp_ms

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def plain(self) -> Record:
        return Record(*(getattr(self, name) for name in _FIELDS))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _FIELDS)

    def __hash__(self) -> int:
        return hash(self.plain())

    def __reduce__(self) -> tuple[type[Record], tuple[Any, ...]]:
        return (Record, tuple(getattr(self, name) for name in _FIELDS))


ConsumedRecord.set_message = ConsumedRecord.__dict__["_message"].__set__


@dataclass(frozen=True)
class StoreSpec:
    """A state store fed from ONE source topic; its partitions are that topic's partitions."""

    name: str
    changelog_topic: str
    source_topic: str


class ProcessorContext(Protocol):
    """What ``Processor.process`` may do besides computing."""

    def store(self, name: str) -> KeyValueStore:
        """The store partition of the record being processed."""
        ...

    def emit(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        """Produce a record inside the open transaction."""
        ...


class PunctuateContext(Protocol):
    """What ``Processor.punctuate`` may do: every assigned store partition, and emit."""

    def stores(self, name: str) -> dict[int, KeyValueStore]: ...

    def emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] = (),
        caused_by: Sequence[TraceLink] = (),
    ) -> None:
        """Produce a record inside the open transaction. ``caused_by``: the trace links of the
        records it comes from (``orderstream.tracing.current_link`` while each was processed);
        with tracing on, the output continues the first one's trace and links the others."""
        ...


@runtime_checkable
class Processor(Protocol):
    """Business logic: ``process`` raising ANY exception sends the record to ``<topic>.dlq``."""

    @property
    def input_topics(self) -> tuple[str, ...]: ...

    @property
    def stores(self) -> tuple[StoreSpec, ...]: ...

    def process(self, record: Record, ctx: ProcessorContext) -> None: ...


class Punctuator(Protocol):
    """A processor that also wants ``punctuate(now_ms, ctx)`` once per commit cycle."""

    def punctuate(self, now_ms: int, ctx: PunctuateContext) -> None: ...


@dataclass(frozen=True)
class RuntimeConfig:
    """How one instance runs a processor."""

    app_id: str  # consumer group id and transactional.id prefix
    instance_id: str  # stable per instance: transactional.id is f"{app_id}-{instance_id}"
    mode: Literal["exactly_once", "at_least_once"] = "exactly_once"
    commit_interval_ms: int = 100
    # Commit sooner once the input is drained (a poll came back short) and the transaction is at
    # least this old, so that light traffic is not held for a whole interval; 0 disables it.
    # Under load batches come back full and the interval alone decides.
    idle_commit_ms: int = 20
    max_records_per_txn: int = 10_000
    max_record_bytes: int = 1_048_576
    http_host: str = "127.0.0.1"
    http_port: int | None = None  # /metrics /healthz /readyz
    state_dir: Path | None = None  # SQLite snapshots per store partition; None = in memory
    consume_batch: int = 1_000
    snapshot_interval_ms: int = 10_000
    transaction_timeout_ms: int = 10_000
    session_timeout_ms: int = 6_000
    max_pending_produce: int = 200_000  # back-pressure: pause input above this producer queue
    backpressure_grace_ms: int = 200  # wait this long for the queue to drain before pausing
    topic_wait_ms: int = 10_000  # a topic created a moment ago may not be in the metadata yet
    # The topics the processor writes. A topic with a codec of its own in
    # settings.compression.topics sets the producer's compression.type (one producer serves
    # every output, so the most widely readable of their codecs wins).
    output_topics: tuple[str, ...] = ()

    @property
    def transactional_id(self) -> str:
        return f"{self.app_id}-{self.instance_id}"

    def for_prefix(self, prefix: str) -> RuntimeConfig:
        """This instance in the copy of the pipeline named ``prefix`` (``Settings.prefix``): its
        group, restore group, transactional.id and state directory all follow ``app_id``."""
        return replace(self, app_id=prefixed(prefix, self.app_id))

    @property
    def exactly_once(self) -> bool:
        return self.mode == "exactly_once"
