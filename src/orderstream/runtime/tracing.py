"""Trace context through the runtime: a thin propagation layer around ``Processor.process``.

Why not ``opentelemetry-instrumentation-confluent-kafka``: it proxies ``Producer.produce`` and
``Consumer.poll``/``consume``, so its spans would wrap a whole batch poll (one span, a thousand
records of as many traces) and every produce, including changelog writes and DLQ copies, and it
knows nothing of the record a produce belongs to. The runtime knows exactly which outputs each
record made (``RecordContext.emits``), so it links them here, and only when tracing is on: the
hot path calls a ``RecordTracer`` instead of ``process``, otherwise nothing changes.

Per record, when tracing is on:
- a sampled parent (``traceparent`` flags 01), or none and the sampler picks it: a CONSUMER span
  ``process <topic>`` (messaging semantic conventions) is current while ``process`` runs, each
  emit gets a PRODUCER span ``send <topic>`` and headers carrying it and the order's baggage;
- a parent that is not sampled (flags bit 0 clear): no span, the trace headers are copied to the
  emits as they are (W3C: a participant that does not record forwards the parent), and log
  lines still name them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Status, StatusCode

from orderstream.runtime.api import Header, ProcessorContext, Record
from orderstream.tracing import (
    BAGGAGE,
    HEADER_GETTER,
    HEADER_SETTER,
    TRACEPARENT,
    TraceLink,
    current_link,
    reset_passthrough,
    set_passthrough,
)

Process = Callable[[Record, ProcessorContext], None]
_CONSUMER, _PRODUCER = trace.SpanKind.CONSUMER, trace.SpanKind.PRODUCER
# traceparent's flags are its last two hex digits; bit 0 (sampled) is clear when the last is even
# (the SDK also sets bit 1, "random trace id": flags 02 are unsampled too).
_UNSAMPLED_LAST_DIGIT = frozenset(b"02468aceACE")


class RecordTracer:
    """``process`` with trace context taken from each record and given to its emits.

    A record that raised is sent to the DLQ by the hot path after ``process`` returned:
    ``failure_scope(record)`` makes its context current again, so that the DLQ warning names
    the record's trace, span and order.
    """

    def __init__(self, process: Process, tracer: trace.Tracer, group: str) -> None:
        self.process = process
        self.tracer = tracer
        self.group = group
        self._failed: tuple[Record, context.Context | tuple[bytes, bytes | None]] | None = None

    def __call__(self, record: Record, ctx: ProcessorContext) -> None:
        headers = record.headers
        parent = baggage_value = None
        for name, value in headers:
            if name == TRACEPARENT:
                parent = value
            elif name == BAGGAGE:
                baggage_value = value
        if parent is not None and len(parent) == 55 and parent[-1] in _UNSAMPLED_LAST_DIGIT:
            self._forward(record, ctx, parent, baggage_value)
            return
        self._record_span(record, ctx, headers)

    @contextmanager
    def failure_scope(self, record: Record) -> Iterator[None]:
        failed, self._failed = self._failed, None
        if failed is None or failed[0] is not record:
            yield
            return
        saved = failed[1]
        if isinstance(saved, tuple):
            token = set_passthrough(saved)
            try:
                yield
            finally:
                reset_passthrough(token)
            return
        attached = context.attach(saved)
        try:
            yield
        finally:
            context.detach(attached)

    def _forward(
        self, record: Record, ctx: Any, parent: bytes, baggage_value: bytes | None
    ) -> None:
        token = set_passthrough((parent, baggage_value))
        try:
            self.process(record, ctx)
        except Exception:
            self._failed = (record, (parent, baggage_value))
            raise
        finally:
            reset_passthrough(token)
        carried: list[Header] = [(TRACEPARENT, parent)]
        if baggage_value is not None:
            carried.append((BAGGAGE, baggage_value))
        emits = ctx.emits
        for i, (topic, key, value, out_headers) in enumerate(emits):
            # One list for all emits without headers of their own: the producer copies it.
            emits[i] = (
                topic,
                key,
                value,
                _untraced(out_headers) + carried if out_headers else carried,
            )

    def _record_span(self, record: Record, ctx: Any, headers: tuple[Header, ...]) -> None:
        parent_ctx = propagate.extract(headers, getter=HEADER_GETTER)
        token = context.attach(parent_ctx)  # the parent's baggage (orderId) stays current
        try:
            with self.tracer.start_as_current_span(
                f"process {record.topic}",
                kind=_CONSUMER,
                attributes=_consumer_attributes(record, self.group),
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    self.process(record, ctx)
                except Exception as exc:
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    self._failed = (record, context.get_current())
                    raise
                _inject_emits(ctx.emits, self.tracer)
        finally:
            context.detach(token)

    def trace_caused(self, emits: list[Any], causes: Mapping[int, Sequence[TraceLink]]) -> None:
        """Trace context for punctuation's outputs that name their causes (``CycleContext``).

        OpenTelemetry's messaging conventions relate a message made from several others by
        span links. A new root with links would be sampled at the ratio, blind to its links, so
        nearly every window's stats would go unrecorded even when an order in it was traced:
        instead its PRODUCER span ``send <topic>`` is the child of the first cause (an alert
        caused by one order continues that order's trace) and links the others.
        """
        for i, links in causes.items():
            topic, key, value, out_headers = emits[i]
            span = self.tracer.start_span(
                f"send {topic}",
                context=trace.set_span_in_context(trace.NonRecordingSpan(links[0])),
                kind=_PRODUCER,
                links=[trace.Link(link) for link in links[1:]],
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": topic,
                    "orderstream.causes": len(links),
                },
            )
            carried = _untraced(out_headers)
            propagate.inject(carried, context=trace.set_span_in_context(span), setter=HEADER_SETTER)
            span.end()
            emits[i] = (topic, key, value, carried)


class Causes:
    """The trace links of the records behind outputs that punctuation emits later (the sampled
    orders of a window), by key (e.g. partition and window start), in memory.

    At most ``per_key`` links per key and ``keys`` keys (the oldest key goes first), so keys
    never popped (revoked partitions, aborted work) cannot grow it. Lost on restart: a trace
    is a sample, not a record of the business. A processor makes one only when tracing is on
    (``active_tracer()``), so that tracing off costs it nothing per record.
    """

    def __init__(self, per_key: int = 16, keys: int = 4096) -> None:
        self._per_key = per_key
        self._keys = keys
        self._by_key: dict[Hashable, list[TraceLink]] = {}

    def note(self, key: Hashable) -> None:
        """Keep the current record's link (``current_link``) for ``key``, if it is sampled."""
        link = current_link()
        if link is None:
            return
        links = self._by_key.get(key)
        if links is None:
            if len(self._by_key) >= self._keys:
                del self._by_key[next(iter(self._by_key))]
            links = self._by_key[key] = []
        if len(links) < self._per_key:
            links.append(link)

    def pop(self, key: Hashable) -> tuple[TraceLink, ...]:
        return tuple(self._by_key.pop(key, ()))


def _inject_emits(emits: list[Any], tracer: trace.Tracer) -> None:
    for i, (topic, key, value, out_headers) in enumerate(emits):
        span = tracer.start_span(
            f"send {topic}",
            kind=_PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
            },
        )
        carried = _untraced(out_headers)
        propagate.inject(carried, context=trace.set_span_in_context(span), setter=HEADER_SETTER)
        span.end()
        emits[i] = (topic, key, value, carried)


def _untraced(headers: list[Header] | None) -> list[Header]:
    """An emit's own headers without trace context (a processor may copy its input's)."""
    if not headers:
        return []
    return [h for h in headers if h[0] != TRACEPARENT and h[0] != BAGGAGE]


def _consumer_attributes(record: Record, group: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.consumer.group.name": group,
    }
    key = record.key
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    return attributes
