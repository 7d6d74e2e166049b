"""A broker-free test driver: run a processor's logic over records, get its outputs and state.

Like Kafka Streams' ``TopologyTestDriver``: the same contexts, savepoints, DLQ routing and
transactional stores as the real runtime, with in-memory backends and no Kafka. Each piped
record is its own committed transaction. Each record goes through ``run_record``, the function
the runtime's hot path calls, so outcomes are the runtime's: a record that raises goes to the
DLQ, and a ``TransientError`` is raised to the test (the runtime would retry the record)::

    driver = ProcessorDriver(MyProcessor())
    driver.pipe("orders", key=b"o1", value=payload)
    assert driver.outputs("enriched-orders")[0].value == ...
    assert driver.store("stock")[b"p1"] == ...
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orderstream.runtime.api import Header, Processor, Punctuator, Record
from orderstream.runtime.context import (
    DEFAULT_MAX_BYTES,
    CycleContext,
    DeadLetter,
    Emit,
    RecordContext,
    Transient,
    run_record,
)
from orderstream.runtime.dlq import dead_letter, dlq_topic
from orderstream.runtime.tasks import TaskRegistry
from orderstream.state import Change


@dataclass(frozen=True)
class Output:
    """A record the processor produced (including DLQ and changelog records)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    partition: int | None = None

    @property
    def header_map(self) -> dict[str, bytes]:
        return dict(self.headers)


class ProcessorDriver:
    """Drives one processor over given records; see the module docstring."""

    def __init__(self, processor: Processor, max_record_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.processor = processor
        self.max_record_bytes = max_record_bytes
        self.registry = TaskRegistry(tuple(processor.stores), None)
        self._ctx = RecordContext(self.registry.stores, max_record_bytes)
        self._offsets: dict[tuple[str, int], int] = {}
        self.produced: list[Output] = []

    def _task(self, topic: str, partition: int) -> None:
        if (topic, partition) not in self.registry.tasks:
            self.registry.activate(self.registry.create((topic, partition)))

    def pipe(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int = 0,
        headers: Sequence[Header] = (),
        timestamp_ms: int | None = None,
    ) -> list[Output]:
        """Process one record (offsets count up per partition); returns what it produced."""
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        record = Record(topic, partition, offset, key, value, tuple(headers), ts)
        return self.pipe_record(record)

    def pipe_records(self, records: Iterable[Record]) -> list[Output]:
        out: list[Output] = []
        for record in records:
            out.extend(self.pipe_record(record))
        return out

    def pipe_record(self, record: Record) -> list[Output]:
        """Process one record as the runtime would; a ``TransientError`` is raised."""
        self._task(record.topic, record.partition)
        ctx = self._ctx
        ctx.start(record.partition)
        size = len(record.value) if record.value is not None else 0
        outcome = run_record(self.processor.process, record, size, ctx, self.max_record_bytes)
        if isinstance(outcome, Transient):
            raise outcome.error
        outputs: list[Output] = []
        if isinstance(outcome, DeadLetter):
            topic, key, value, headers = dead_letter(record, outcome.error)
            outputs.append(Output(topic, key, value, tuple(headers)))
        else:
            outputs.extend(self._outputs(ctx.emits))
        ctx.emits.clear()
        outputs.extend(self._commit())
        self.produced.extend(outputs)
        return outputs

    def punctuate(self, now_ms: int) -> list[Output]:
        """Call the processor's ``punctuate`` (if it has one) and commit."""
        if not hasattr(self.processor, "punctuate"):
            return []
        ctx = CycleContext(self.registry.stores, self.max_record_bytes)
        punctuator: Punctuator = self.processor  # type: ignore[assignment]
        punctuator.punctuate(now_ms, ctx)
        outputs = [*self._outputs(ctx.emits), *self._commit()]
        self.produced.extend(outputs)
        return outputs

    def _outputs(self, emits: list[Emit]) -> list[Output]:
        return [Output(t, k, v, tuple(h or ())) for t, k, v, h in emits]

    def _commit(self) -> list[Output]:
        """Log every store's pending writes to its changelog, then apply them."""
        logged: list[Output] = []

        class Sink:
            def log_changes(self, topic: str, partition: int, changes: Sequence[Change]) -> None:
                logged.extend(Output(topic, k, v, (), partition) for k, v in changes)

        for store in self.registry.all_stores():
            store.flush(Sink())
            store.inner.commit(None)
        return logged

    def outputs(self, topic: str | None = None) -> list[Output]:
        """Everything produced so far (to ``topic`` only, when given)."""
        return [o for o in self.produced if topic is None or o.topic == topic]

    def dlq(self, input_topic: str) -> list[Output]:
        return self.outputs(dlq_topic(input_topic))

    def store(self, name: str, partition: int = 0) -> dict[bytes, bytes]:
        """The committed content of one store partition."""
        store = self.registry.stores[name].get(partition)
        return dict(store.items()) if store is not None else {}
