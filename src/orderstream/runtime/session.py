"""One life of the runtime's Kafka clients: from subscribe to close, or to a TaskMigrated error.

A session owns the consumer, the producer, the tasks and the checkpoint. ``ProcessingLoop``
builds a new session after ``TaskMigrated`` (fenced, fatal, or an unknown commit outcome), so
everything uncommitted is dropped and state is rebuilt from committed data.

One cycle (``run_cycle``): restore newly assigned partitions; consume a batch; process it record
by record inside the open transaction; when the commit interval has passed (or the transaction is
full), punctuate and commit; relieve back-pressure.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException

from orderstream.config import KafkaConfig, KafkaValue, Role, Settings, kafka_config
from orderstream.errors import ConfigError, TaskMigrated, TransactionAborted, TransientError
from orderstream.kafka.consumer import ChangelogReader, GroupConsumer
from orderstream.kafka.producer import OutputProducer, PlainProducer, TransactionalProducer
from orderstream.runtime.api import ConsumedRecord, Processor, Punctuator, Record, RuntimeConfig
from orderstream.runtime.checkpoint import (
    AtLeastOnceCheckpoint,
    Checkpoint,
    ExactlyOnceCheckpoint,
)
from orderstream.runtime.context import CycleContext, Emit, RecordContext
from orderstream.runtime.dlq import RecordTooLarge, dlq_headers, dlq_topic
from orderstream.runtime.metrics import RuntimeMetrics
from orderstream.runtime.rebalance import RebalanceHandler
from orderstream.runtime.restore import Restorer
from orderstream.runtime.tasks import PartitionTask, TaskRegistry, TaskState

logger = logging.getLogger(__name__)


TOPIC_WAIT_S = 10.0  # a topic created a moment ago may not be in the metadata yet
TRANSIENT_BACKOFF_S = 0.5  # between retries of a record that hit a transient error

# librdkafka's default 1 MB per-partition fetch caps small-record consumption near 200k
# records/s on one broker; 8 MB lifts it to well over 1M/s (measured), so Python is the limit.
FETCH_TUNING: dict[str, KafkaValue] = {"max.partition.fetch.bytes": 8 * 1024 * 1024}


def _client_configs(
    config: RuntimeConfig, settings: Settings
) -> tuple[KafkaConfig, KafkaConfig, KafkaConfig, KafkaConfig]:
    """(producer, group consumer, changelog reader, changelog probe) configurations."""
    name = config.transactional_id
    queue = {"queue.buffering.max.messages": max(100_000, config.max_pending_produce * 2)}
    if config.exactly_once:
        producer = kafka_config(
            Role.TRANSACTIONAL_PRODUCER,
            f"{name}-producer",
            settings=settings,
            transactional_id=name,
            overrides={
                "transaction.timeout.ms": config.transaction_timeout_ms,
                "message.timeout.ms": max(1_000, config.transaction_timeout_ms - 1_000),
                **queue,
            },
        )
    else:
        producer = kafka_config(
            Role.PRODUCER, f"{name}-producer", settings=settings, overrides=queue
        )
    consumer = kafka_config(
        Role.CONSUMER,
        f"{name}-consumer",
        settings=settings,
        group_id=config.app_id,
        overrides={
            "session.timeout.ms": config.session_timeout_ms,
            "heartbeat.interval.ms": max(500, config.session_timeout_ms // 4),
            **FETCH_TUNING,
        },
    )
    reader = kafka_config(
        Role.CONSUMER,
        f"{name}-restore",
        settings=settings,
        group_id=f"{config.app_id}-restore",
        overrides={
            "enable.partition.eof": True,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            # Restores read to the end: do not let the broker hold an empty fetch.
            "fetch.wait.max.ms": 10,
            "session.timeout.ms": config.session_timeout_ms,  # unused (no group), but checked
        },
    )
    probe = dict(reader, **{"isolation.level": "read_uncommitted", "client.id": f"{name}-probe"})
    return producer, consumer, reader, probe


class Session:
    """Clients, tasks and checkpoint of one run; see the module docstring."""

    def __init__(
        self,
        processor: Processor,
        config: RuntimeConfig,
        settings: Settings,
        metrics: RuntimeMetrics,
    ) -> None:
        self.processor = processor
        self.config = config
        self.metrics = metrics
        state_dir = config.state_dir / config.app_id if config.state_dir else None
        self.registry = TaskRegistry(tuple(processor.stores), state_dir)
        try:
            self._build(config, settings)
        except KafkaException as exc:
            raise ConfigError(f"cannot create the Kafka clients of {config.app_id}: {exc}") from exc
        self.restorer = Restorer(
            self._reader, metrics, settle_timeout_s=config.transaction_timeout_ms / 1000 + 20
        )
        self.rebalance = RebalanceHandler(self.consumer, self.registry, self.checkpoint, metrics)
        self.ctx = RecordContext(self.registry.stores)
        self.cycle_ctx = CycleContext(self.registry.stores)
        self.punctuator = cast(Punctuator, processor) if hasattr(processor, "punctuate") else None
        self._interval_s = config.commit_interval_ms / 1000
        self._idle_commit_s = min(config.idle_commit_ms, config.commit_interval_ms) / 1000
        self._drained = False
        self.processed = 0
        self.last_cycle = time.monotonic()

    def _build(self, config: RuntimeConfig, settings: Settings) -> None:
        """The Kafka clients and the checkpoint over them."""
        metrics = self.metrics
        producer_conf, consumer_conf, reader_conf, probe_conf = _client_configs(config, settings)
        self.consumer = GroupConsumer(consumer_conf)
        self.producer: OutputProducer
        self.checkpoint: Checkpoint
        if config.exactly_once:
            self.txn: TransactionalProducer | None = TransactionalProducer(producer_conf)
            self.producer = self.txn
            self.checkpoint = ExactlyOnceCheckpoint(
                self.txn, self.consumer, self.registry, metrics, config.snapshot_interval_ms
            )
        else:
            self.txn = None
            plain = PlainProducer(producer_conf)
            self.producer = plain
            self.checkpoint = AtLeastOnceCheckpoint(
                plain, self.consumer, self.registry, metrics, config.snapshot_interval_ms
            )
        self._reader = ChangelogReader(reader_conf, probe_conf)

    # -- start and stop -------------------------------------------------------------------

    def open(self) -> None:
        """Check the topics, register the transactional id (fencing older zombies), subscribe."""
        self._check_topics()
        if self.txn is not None:
            self.txn.init()
        r = self.rebalance
        self.consumer.subscribe(self.processor.input_topics, r.on_assign, r.on_revoke, r.on_lost)

    def _check_topics(self) -> None:
        needed = set(self.processor.input_topics)
        needed |= {dlq_topic(t) for t in self.processor.input_topics}
        needed |= {s.changelog_topic for s in self.processor.stores}
        deadline = time.monotonic() + TOPIC_WAIT_S
        missing = sorted(needed - self.consumer.topics())
        while missing and time.monotonic() < deadline:
            time.sleep(0.2)
            missing = sorted(needed - self.consumer.topics())
        if missing:
            raise ConfigError(
                f"missing topics for {self.config.app_id}: {', '.join(missing)} "
                "(create them, e.g. with `orderstream topics apply`)"
            )

    def close_gracefully(self) -> None:
        """Finish (or, if it cannot be finished, abort) the open transaction, snapshot, and
        leave the group."""
        if self.checkpoint.is_open:
            try:
                self.checkpoint.commit()
            except TransactionAborted as exc:
                logger.warning("last transaction aborted at shutdown", extra={"error": str(exc)})
                self._drop_pending_emits()
                self.checkpoint.abort(rewind=False)
        self.checkpoint.snapshot_now()
        self.consumer.close()  # runs on_revoke for what is left
        self.producer.close()
        self.restorer.reader.close()

    def close_after_failure(self) -> None:
        """Drop everything uncommitted; do not commit anything."""
        self.rebalance.closing = True
        for store in self.registry.all_stores():
            store.inner.abort()
        for tp in list(self.registry.tasks):
            self.registry.close(tp, snapshot=False)
        closers = (
            self.consumer.close,
            self.restorer.reader.close,
            lambda: self.producer.close(0.5),
        )
        for close in closers:
            try:
                close()
            except Exception as exc:  # the clients may be in any state after a failure
                logger.warning("close after failure", extra={"error": str(exc)})

    # -- one cycle ------------------------------------------------------------------------

    def run_cycle(self) -> None:
        self.last_cycle = time.monotonic()
        try:
            self._restore_assigned()
            self._consume_and_process()
            if self._commit_due():
                self._punctuate()
                self.checkpoint.commit()
            self._relieve_backpressure()
        except TransactionAborted as exc:
            logger.warning("transaction aborted, rewinding", extra={"error": str(exc)})
            self._drop_pending_emits()
            self.checkpoint.abort()

    def _drop_pending_emits(self) -> None:
        """Forget outputs of the aborted transaction that were not produced yet.

        The record being processed when the error surfaced may have left emits and savepoints
        in the contexts; produced in the next transaction they would become visible.
        """
        self.ctx.rollback()
        self.cycle_ctx.emits.clear()

    def _restore_assigned(self) -> None:
        restoring = self.registry.restoring()
        if not restoring:
            return
        committed = self.consumer.committed([t.tp for t in restoring])
        for task in restoring:
            task.committed_offset = committed[task.tp]
            self.restorer.restore_task(task)
            self.registry.activate(task)
            if task.rewind_to is not None:
                self.consumer.seek(task.tp, task.committed_offset)
                task.rewind_to = None
            self.consumer.resume([task.tp])
        logger.info("partitions running", extra={"partitions": [t.tp for t in restoring]})

    def _consume_and_process(self) -> None:
        cp = self.checkpoint
        wait = (
            self._interval_s - (time.monotonic() - cp.opened_at) if cp.is_open else self._interval_s
        )
        if self._idle_commit_s:
            # consume() returns early only when the batch is full: poll in short slices so that
            # a drained input is noticed and can be committed without waiting out the interval.
            wait = min(wait, self._idle_commit_s)
        room = self.config.max_records_per_txn - (cp.records if cp.is_open else 0)
        wanted = max(1, min(self.config.consume_batch, room))
        waited_from = time.monotonic()
        msgs = self.consumer.consume(wanted, max(0.0, wait))
        self._drained = len(msgs) < wanted
        if msgs:
            # consume() blocks until the batch fills or the wait ends, so the first record may
            # have waited a whole interval already: count the interval from when we began to
            # wait for it, or every hop would cost up to two intervals of latency.
            cp.ensure_open(waited_from)
            self._process_batch(msgs)

    def _commit_due(self) -> bool:
        cp = self.checkpoint
        if self.punctuator is not None and not cp.is_open:
            cp.ensure_open()  # punctuate runs once per cycle, even when idle
        if not cp.is_open:
            return False
        age = time.monotonic() - cp.opened_at
        return (
            age >= self._interval_s
            or cp.records >= self.config.max_records_per_txn
            or (self._drained and cp.records > 0 and 0 < self._idle_commit_s <= age)
        )

    def _process_batch(self, msgs: list[Any]) -> None:  # noqa: PLR0915 (one frame: hot path)
        """The hot path: one record at a time, outputs produced only if the record succeeded."""
        tasks = self.registry.tasks
        ctx = self.ctx
        emits = ctx.emits
        process = self.processor.process
        max_bytes = self.config.max_record_bytes
        produce = self.producer.produce
        # The C produce, positional, for emits without headers; errors (queue full, a failed
        # transaction) fall back to ``produce``, which waits or translates them.
        raw_produce = self.producer.raw_produce
        undo = ctx.undo  # the record's undo log: emptied when it succeeds
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
            try:
                if len(msg) > max_bytes:  # the value's size
                    raise RecordTooLarge(f"value of {len(msg)} bytes is over {max_bytes}")
                process(record, ctx)
            except TransientError as exc:
                # The record is not at fault (e.g. the registry is down): abort and rewind so
                # that it is retried, instead of dead-lettering good data.
                ctx.rollback()
                time.sleep(TRANSIENT_BACKOFF_S)
                raise TransactionAborted(f"retrying after a transient error: {exc}") from exc
            except Exception as exc:
                ctx.rollback()
                self._to_dlq(record, exc)
            else:
                if undo:
                    undo.clear()
                if emits:
                    for out_topic, out_key, out_value, out_headers in emits:
                        if out_headers is None:
                            try:
                                raw_produce(out_topic, out_value, out_key)
                                continue
                            except (BufferError, KafkaException):
                                pass
                        produce(out_topic, out_key, out_value, -1, out_headers)
                    produced += len(emits)
                    emits.clear()
            last = msg
            processed += 1
        if last is not None:
            task.next_offset = last.offset() + 1  # type: ignore[union-attr]
        self.checkpoint.records += processed
        self.processed += processed
        self.metrics.pending_in += processed
        self.metrics.pending_out += produced

    def _produce(self, emits: list[Emit]) -> int:
        produce = self.producer.produce
        for topic, key, value, headers in emits:
            produce(topic, key, value, -1, headers)
        return len(emits)

    def _to_dlq(self, record: Record, error: Exception) -> None:
        value = None if isinstance(error, RecordTooLarge) else record.value
        self.producer.produce(
            dlq_topic(record.topic), record.key, value, -1, dlq_headers(record, error)
        )
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

    def _punctuate(self) -> None:
        if self.punctuator is None:
            return
        ctx = self.cycle_ctx
        self.punctuator.punctuate(int(time.time() * 1000), ctx)
        if ctx.emits:
            self.metrics.pending_out += self._produce(ctx.emits)
            ctx.emits.clear()

    def _relieve_backpressure(self) -> None:
        """Pause input while the producer's queue is over its limit (outputs fall behind).

        A short grace period comes first: pausing drops the consumer's prefetched records,
        which costs more than a brief wait for the producer to drain.
        """
        limit = self.config.max_pending_produce
        if len(self.producer) <= limit:
            return
        grace_ends = time.monotonic() + self.config.backpressure_grace_ms / 1000
        while len(self.producer) > limit // 2 and time.monotonic() < grace_ends:
            self.producer.poll(0.005)
        if len(self.producer) <= limit // 2:
            return
        running = [t.tp for t in self.registry.running()]
        self.consumer.pause(running)
        self.metrics.backpressure_pauses.inc()
        try:
            while len(self.producer) > limit // 2:
                self.producer.poll(0.05)
        finally:
            self.consumer.resume([tp for tp in running if tp in self.registry.tasks])
