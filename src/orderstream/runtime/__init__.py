"""The exactly-once processing runtime: what every consuming service is built on.

Public API (the contract services code against)::

    Record, StoreSpec, KeyValueStore, ProcessorContext, PunctuateContext, Processor,
    RuntimeConfig, ProcessingLoop, run_processor

A processor, and how it runs::

    class CountByKey:
        input_topics = ("clicks",)
        stores = (StoreSpec("counts", "counts-changelog", source_topic="clicks"),)

        def process(self, record: Record, ctx: ProcessorContext) -> None:
            store = ctx.store("counts")  # this record's partition of the store
            n = int(store.get(record.key) or b"0") + 1
            store.put(record.key, str(n).encode())
            ctx.emit("click-counts", record.key, str(n).encode())  # raising -> clicks.dlq

    run_processor(CountByKey(), RuntimeConfig(app_id="counter", instance_id="a"), settings)

Guarantees under ``mode="exactly_once"``: outputs, changelog writes, DLQ records and input
offsets of a commit interval are one Kafka transaction; a record that raises leaves no write
and no output behind and goes to ``<topic>.dlq`` with headers ``dlq.source.topic``,
``dlq.source.partition``, ``dlq.source.offset``, ``dlq.error.class``, ``dlq.error.message``.
A ``TransientError`` (e.g. ``RegistryUnavailable``) is not the record's fault: the transaction
is aborted and rewound and the record retried, never dead-lettered. Light traffic is committed
once the input is drained (``idle_commit_ms``), heavy traffic once per ``commit_interval_ms``.
Needed topics (inputs, their ``.dlq``, changelogs) must exist; the loop says which do not.
"""

from orderstream.runtime.api import (
    Processor,
    ProcessorContext,
    PunctuateContext,
    Punctuator,
    Record,
    RuntimeConfig,
    StoreSpec,
)
from orderstream.runtime.dlq import (
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
    dlq_topic,
)
from orderstream.runtime.loop import ProcessingLoop, run_processor
from orderstream.state.store import KeyValueStore

__all__ = [
    "H_ERROR_CLASS",
    "H_ERROR_MESSAGE",
    "H_SOURCE_OFFSET",
    "H_SOURCE_PARTITION",
    "H_SOURCE_TOPIC",
    "KeyValueStore",
    "ProcessingLoop",
    "Processor",
    "ProcessorContext",
    "PunctuateContext",
    "Punctuator",
    "Record",
    "RuntimeConfig",
    "StoreSpec",
    "dlq_topic",
    "run_processor",
]
