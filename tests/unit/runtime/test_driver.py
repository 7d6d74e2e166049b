"""The broker-free driver over the verification processor: outputs, state, DLQ, rollback."""

from __future__ import annotations

import struct

from orderstream.runtime import H_ERROR_CLASS, H_SOURCE_OFFSET, H_SOURCE_TOPIC, Record
from orderstream.runtime.api import ProcessorContext, StoreSpec
from orderstream.serde.wire import frame
from orderstream.testing.aggregate import STORE, Aggregate, AggregateProcessor, encode_value
from orderstream.testing.driver import ProcessorDriver


def _driver(max_record_bytes: int = 1_048_576) -> ProcessorDriver:
    return ProcessorDriver(AggregateProcessor("in", "out", "cl"), max_record_bytes)


def test_aggregates_are_emitted_stored_and_changelogged() -> None:
    d = _driver()
    for n in (5, -3, 10):
        d.pipe("in", b"k", encode_value(n))
    d.pipe("in", b"j", encode_value(7), partition=1)
    emitted = [Aggregate.decode(o.value or b"") for o in d.outputs("out")]
    assert emitted[-2] == Aggregate(total=12, count=3, low=-3, high=10)
    assert [a.count for a in emitted] == [1, 2, 3, 1]
    assert Aggregate.decode(d.store(STORE, 0)[b"k"]) == Aggregate(12, 3, -3, 10)
    assert list(d.store(STORE, 1)) == [b"j"]
    changelog = d.outputs("cl")
    assert [(o.partition, o.key) for o in changelog] == [(0, b"k")] * 3 + [(1, b"j")]


def test_poison_pills_reach_the_dlq_with_headers_and_leave_state_alone() -> None:
    d = _driver(max_record_bytes=100)
    d.pipe("in", b"k", encode_value(1))
    d.pipe("in", b"k", b"\xff\x00garbage")  # bad magic byte
    d.pipe("in", b"k", frame(99, struct.pack(">q", 1)))  # unknown schema id
    d.pipe("in", b"k", encode_value(1) + b"x" * 200)  # oversized
    d.pipe("in", None, encode_value(1))  # raises in user code
    dlq = d.dlq("in")
    assert [o.header_map[H_ERROR_CLASS] for o in dlq] == [
        b"DeserializationError",
        b"DeserializationError",
        b"RecordTooLarge",
        b"ValueError",
    ]
    assert [o.header_map[H_SOURCE_OFFSET] for o in dlq] == [b"1", b"2", b"3", b"4"]
    assert all(o.header_map[H_SOURCE_TOPIC] == b"in" for o in dlq)
    assert dlq[0].value == b"\xff\x00garbage"
    assert dlq[2].value is None  # oversized values are not copied
    assert Aggregate.decode(d.store(STORE)[b"k"]).count == 1


class _WritesThenFails:
    """Writes state and emits, then raises: nothing of it may survive."""

    input_topics = ("in",)
    stores = (StoreSpec("s", "cl", "in"),)

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        ctx.store("s").put(b"touched", record.value or b"")
        ctx.emit("out", record.key, record.value)
        if record.value == b"boom":
            raise RuntimeError("boom")


def test_a_failing_record_leaves_no_writes_and_no_outputs() -> None:
    d = ProcessorDriver(_WritesThenFails())
    d.pipe("in", b"k", b"fine")
    d.pipe("in", b"k", b"boom")
    assert d.store("s") == {b"touched": b"fine"}
    assert [o.value for o in d.outputs("out")] == [b"fine"]
    assert [o.value for o in d.outputs("cl")] == [b"fine"]
    assert len(d.dlq("in")) == 1
