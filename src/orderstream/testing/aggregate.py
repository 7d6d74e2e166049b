"""The verification processor: per-key sum, count, min and max of integer inputs.

Inputs are 8-byte big-endian signed integers in the Confluent wire format under schema id
``VALUE_SCHEMA_ID``; anything else raises ``DeserializationError`` (so it reaches the DLQ). Each
update is stored and emitted as ``Aggregate`` bytes to the output topic, keyed like the input.
Kafka's streams EOS test uses the same kind of processor; the bench and the tests share this one.

Run as a process (tests kill -9 and SIGSTOP it)::

    python -m orderstream.testing.aggregate --bootstrap HOST:PORT --input T --output O \
        --changelog C --app-id A --instance-id I [--state-dir D] [--http-port P]
"""

from __future__ import annotations

import argparse
import logging
import os
import struct
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from orderstream.errors import DeserializationError
from orderstream.runtime.api import ProcessorContext, Record, RuntimeConfig, StoreSpec
from orderstream.serde.wire import frame, unframe

VALUE_SCHEMA_ID = 1
STORE = "aggregates"
_INT = struct.Struct(">q")
_AGG = struct.Struct(">qqqq")
_FRAMED = struct.Struct(">bIq")  # the fast path of decode_value: magic, schema id, integer


def encode_value(n: int) -> bytes:
    """An input value: ``n`` framed under the test schema id."""
    return frame(VALUE_SCHEMA_ID, _INT.pack(n))


def decode_value(data: bytes | None) -> int:
    """The integer of an input value, or DeserializationError."""
    if data is not None and len(data) == _FRAMED.size and data[0] == 0:
        _, schema_id, n = _FRAMED.unpack(data)
        if schema_id == VALUE_SCHEMA_ID:
            return int(n)
    schema_id, body = unframe(data)
    if schema_id != VALUE_SCHEMA_ID:
        raise DeserializationError(f"unknown schema id {schema_id}")
    raise DeserializationError(f"body of {len(body)} bytes is not an 8-byte integer")


@dataclass(frozen=True)
class Aggregate:
    total: int
    count: int
    low: int
    high: int

    def add(self, n: int) -> Aggregate:
        return Aggregate(self.total + n, self.count + 1, min(self.low, n), max(self.high, n))

    @staticmethod
    def first(n: int) -> Aggregate:
        return Aggregate(n, 1, n, n)

    def encode(self) -> bytes:
        return _AGG.pack(self.total, self.count, self.low, self.high)

    @staticmethod
    def decode(data: bytes) -> Aggregate:
        return Aggregate(*_AGG.unpack(data))


class AggregateProcessor:
    """Keeps the per-key aggregate in the store and emits every update."""

    def __init__(self, input_topic: str, output_topic: str, changelog_topic: str) -> None:
        self.input_topics = (input_topic,)
        self.stores = (StoreSpec(STORE, changelog_topic, input_topic),)
        self.output_topic = output_topic
        # Test hook: emit once to this topic (e.g. one whose size limit rejects the record),
        # which makes that transaction abort.
        self.fail_once_topic: str | None = None
        self.fail_at_count = 0
        self._seen = 0

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        value = record.value
        try:  # decode_value's fast path, inline: this runs once per record in the bench
            magic, schema_id, n = _FRAMED.unpack(value)  # type: ignore[arg-type]
        except (struct.error, TypeError):  # not 13 bytes, or no value
            n = decode_value(value)
        else:
            if magic or schema_id != VALUE_SCHEMA_ID:
                n = decode_value(value)
        key = record.key
        if key is None:
            raise ValueError("aggregate input needs a key")
        store = ctx.store(STORE)
        old = store.get(key)
        if old is None:
            new = _AGG.pack(n, 1, n, n)
        else:  # Aggregate.add without the objects
            total, count, low, high = _AGG.unpack(old)
            new = _AGG.pack(total + n, count + 1, n if n < low else low, n if n > high else high)
        store.put(key, new)
        ctx.emit(self.output_topic, key, new)
        if self.fail_once_topic:
            self._seen += 1
            if self._seen == self.fail_at_count:
                ctx.emit(self.fail_once_topic, key, os.urandom(10_000))
                self.fail_once_topic = None


class PassThroughProcessor:
    """The trivial stateless processor of the bench: forwards every record unchanged."""

    stores: tuple[StoreSpec, ...] = ()

    def __init__(self, input_topic: str, output_topic: str) -> None:
        self.input_topics = (input_topic,)
        self.output_topic = output_topic

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        ctx.emit(self.output_topic, record.key, record.value)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m orderstream.testing.aggregate")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--changelog", required=True)
    p.add_argument("--app-id", required=True)
    p.add_argument("--instance-id", required=True)
    p.add_argument("--state-dir", type=Path)
    p.add_argument("--http-port", type=int)
    p.add_argument("--mode", default="exactly_once", choices=["exactly_once", "at_least_once"])
    p.add_argument("--commit-interval-ms", type=int, default=100)
    p.add_argument("--max-record-bytes", type=int, default=1_048_576)
    p.add_argument("--snapshot-interval-ms", type=int, default=10_000)
    p.add_argument("--session-timeout-ms", type=int, default=6_000)
    p.add_argument("--fail-once-topic")
    p.add_argument("--fail-at-count", type=int, default=1000)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from orderstream.config import Settings
    from orderstream.logging import configure_logging
    from orderstream.runtime.loop import run_processor

    args = _parse(sys.argv[1:] if argv is None else argv)
    configure_logging("INFO", json=True, service=f"aggregate-{args.instance_id}")
    processor = AggregateProcessor(args.input, args.output, args.changelog)
    processor.fail_once_topic = args.fail_once_topic
    processor.fail_at_count = args.fail_at_count
    # every option named after a RuntimeConfig field (--app-id -> app_id...) is that field
    given = vars(args)
    config = RuntimeConfig(
        **{f.name: given[f.name] for f in fields(RuntimeConfig) if f.name in given}
    )
    run_processor(processor, config, Settings(bootstrap_servers=args.bootstrap))
    logging.getLogger(__name__).info("aggregate processor stopped")


if __name__ == "__main__":
    main()
