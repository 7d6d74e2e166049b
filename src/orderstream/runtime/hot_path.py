"""The hot path: a consumed batch, record by record, with DLQ routing.

Each record goes through ``run_record`` (``context.py``, shared with the test driver): its
outputs are produced only when it succeeded; a failed record goes to ``<topic>.dlq`` inside the
same transaction; a ``TransientError`` aborts the transaction (``TransactionAborted``), so that
the record is retried after a backoff instead of being dead-lettered.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from orderstream.errors import TaskMigrated, TransactionAborted
from orderstream.kafka.errors import OutputTooLarge
from orderstream.runtime.api import ConsumedRecord, Processor, Record
from orderstream.runtime.checkpoint import Checkpoint
from orderstream.runtime.context import OK, DeadLetter, Emit, RecordContext, Transient, run_record
from orderstream.runtime.dlq import dead_letter
from orderstream.runtime.tasks import PartitionTask, TaskState
from orderstream.runtime.tracing import RecordTracer
from orderstream.tracing import active_tracer

logger = logging.getLogger(__name__)

TRANSIENT_BACKOFF_S = 0.5  # between retries of a record that hit a transient error


class HotPath:
    """Processes batches for one session; see the module docstring."""

    def __init__(
        self, processor: Processor, checkpoint: Checkpoint[Any], max_bytes: int, group: str = ""
    ) -> None:
        self.processor = processor
        # With tracing off, the processor's own method: the hot path pays nothing for traces.
        tracer = active_tracer()
        self.tracer = None if tracer is None else RecordTracer(processor.process, tracer, group)
        self.process = processor.process if self.tracer is None else self.tracer
        self.checkpoint = checkpoint
        self.registry, self.producer, self.metrics = (
            checkpoint.registry, checkpoint.output, checkpoint.metrics
        )  # fmt: skip
        self.max_record_bytes = max_bytes
        self.ctx = RecordContext(checkpoint.registry.stores, max_bytes)
        self.processed = 0

    def process_batch(self, msgs: list[Any]) -> None:  # noqa: PLR0915 (one frame: hot path)
        """One record at a time, outputs produced only if the record succeeded."""
        tasks = self.registry.tasks
        ctx = self.ctx
        emits = ctx.emits
        process = self.process
        max_bytes = self.max_record_bytes
        # The C produce, positional (keywords cost ~1 us a call); errors (queue full, a failed
        # transaction, too large) fall back to ``produce_emit``, which waits or translates them.
        raw_produce = self.producer.raw_produce
        new_record, set_message = object.__new__, ConsumedRecord.set_message
        single_topic = len(self.processor.input_topics) == 1
        produced = processed = 0
        topic: str = ""
        partition = -1
        task: PartitionTask | None = None
        runnable = False
        # The task's last processed message: its next offset is set once per run of one
        # partition, not per record (an error that leaves mid-batch aborts the transaction).
        last: Any = None
        for msg in msgs:
            if msg.error() is not None:
                self._consumer_error(msg)
                continue
            if msg.partition() != partition or (not single_topic and msg.topic() != topic):
                if last is not None:
                    task.next_offset = last.offset() + 1  # type: ignore[union-attr]
                    last = None
                topic, partition = msg.topic(), msg.partition()
                task = tasks.get((topic, partition))
                runnable = task is not None and task.state is TaskState.RUNNING
                ctx.start(partition)
            if not runnable:
                self._not_running(task, msg)
                continue
            record = new_record(ConsumedRecord)  # ConsumedRecord.of(msg), without its frame
            set_message(record, msg)
            outcome = run_record(process, record, len(msg), ctx, max_bytes)
            if outcome is OK:
                if emits:
                    for out_topic, out_key, out_value, out_headers in emits:
                        try:
                            if out_headers is None:
                                raw_produce(out_topic, out_value, out_key)
                            else:  # positional: (partition, on_delivery, callback, timestamp)
                                raw_produce(
                                    out_topic, out_value, out_key, -1, None, None, 0, out_headers
                                )
                            continue
                        except (BufferError, KafkaException):
                            pass
                        self._produce_emit(out_topic, out_key, out_value, out_headers)
                    produced += len(emits)
                    emits.clear()
            elif isinstance(outcome, DeadLetter):
                self.to_dlq(record, outcome.error)
            elif isinstance(outcome, Transient):
                # The record is not at fault (e.g. the registry is down): abort and rewind so
                # that it is retried, instead of dead-lettering good data.
                time.sleep(TRANSIENT_BACKOFF_S)
                raise TransactionAborted(
                    f"retrying after a transient error: {outcome.error}"
                ) from outcome.error
            last = msg
            processed += 1
        if last is not None:
            task.next_offset = last.offset() + 1  # type: ignore[union-attr]
        self.checkpoint.records += processed
        self.processed += processed
        self.metrics.pending_in += processed
        self.metrics.pending_out += produced

    def produce_emits(self, emits: list[Emit]) -> int:
        """Produce outputs (punctuation's); returns how many."""
        for topic, key, value, headers in emits:
            self._produce_emit(topic, key, value, headers)
        return len(emits)

    def _produce_emit(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Any
    ) -> None:
        try:
            self.producer.produce(topic, key, value, -1, headers)
        except OutputTooLarge as exc:
            # Only keys or headers over the producer's room get here (values are checked by
            # emit): producing it can never succeed, so retrying would loop forever.
            self._dropped("output dropped: over the producer's size limit", topic, exc)

    def to_dlq(self, record: Record, error: Exception) -> None:
        if self.tracer is None:
            self._to_dlq(record, error)
            return
        with self.tracer.failure_scope(record):  # the warning names the record's trace
            self._to_dlq(record, error)

    def _to_dlq(self, record: Record, error: Exception) -> None:
        topic, key, value, headers = dead_letter(record, error)
        try:
            self.producer.produce(topic, key, value, -1, headers)
        except OutputTooLarge as exc:
            self._dropped("DLQ copy dropped: over the producer's size limit", topic, exc)
            return
        self.metrics.pending_dlq += 1
        logger.warning(
            "record sent to DLQ",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error_class": type(error).__name__,
                "error": str(error)[:200],
            },
        )

    def _dropped(self, what: str, topic: str, exc: OutputTooLarge) -> None:
        self.metrics.dropped_outputs.inc()
        logger.error(what, extra={"topic": topic, "error": str(exc)[:200]})

    def _not_running(self, task: PartitionTask | None, msg: Any) -> None:
        # A record of a partition that is restoring (or no longer ours) is not processed here;
        # a restoring task replays it after its restore.
        if task is not None and task.rewind_to is None:
            task.rewind_to = msg.offset()

    def _consumer_error(self, msg: Any) -> None:
        err = msg.error()
        if err.fatal():
            raise TaskMigrated(f"consumer fatal error: {err.str()}")
        if err.code() != KafkaError._PARTITION_EOF:
            logger.warning("consumer error", extra={"error": err.str()})
