"""One life of the runtime's Kafka clients: from subscribe to close, or to a TaskMigrated error.

A session owns the consumer, the producer, the tasks and the checkpoint. ``ProcessingLoop``
builds a new session after ``TaskMigrated`` (fenced, fatal, an unknown commit outcome, or the
cluster unreachable: ``BrokerUnavailable``), so everything uncommitted is dropped and state is
rebuilt from committed data.

One cycle (``run_cycle``): restore newly assigned partitions (committing the open transaction
first, since a restore can outlast the transaction timeout); consume a batch; process it record
by record inside the open transaction (``hot_path.py``); when the commit interval has passed (or
the transaction is full), punctuate and commit; relieve back-pressure. How each transaction
ends is ``Checkpoint``'s business (its docstring has the table).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import KafkaException, Producer

from orderstream.config import KafkaConfig, Settings
from orderstream.errors import ConfigError, TransactionAborted
from orderstream.kafka.consumer import ChangelogReader, GroupConsumer
from orderstream.kafka.producer import OutputProducer, PlainProducer, TransactionalProducer
from orderstream.runtime.api import Processor, Punctuator, RuntimeConfig
from orderstream.runtime.checkpoint import AtLeastOnceCheckpoint, Checkpoint, ExactlyOnceCheckpoint
from orderstream.runtime.clients import FETCH_TUNING, LoginWatch, client_configs
from orderstream.runtime.context import CycleContext
from orderstream.runtime.dlq import dlq_topic
from orderstream.runtime.hot_path import HotPath
from orderstream.runtime.metrics import RuntimeMetrics
from orderstream.runtime.rebalance import RebalanceHandler
from orderstream.runtime.restore import Restorer
from orderstream.runtime.tasks import TaskRegistry

__all__ = ["FETCH_TUNING", "ProducerFactory", "Session"]  # FETCH_TUNING: the benchmark's

logger = logging.getLogger(__name__)

# Builds the transactional producer's librdkafka client: tests wrap a real one to inject faults.
ProducerFactory = Callable[[KafkaConfig], Producer]


class Session:
    """Clients, tasks and checkpoint of one run; see the module docstring."""

    def __init__(
        self,
        processor: Processor,
        config: RuntimeConfig,
        settings: Settings,
        metrics: RuntimeMetrics,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        self.processor = processor
        self.config = config
        self.metrics = metrics
        state_dir = config.state_dir / config.app_id if config.state_dir else None
        self.registry = TaskRegistry(tuple(processor.stores), state_dir)
        try:
            self._build(config, settings, producer_factory)
        except KafkaException as exc:
            raise ConfigError(f"cannot create the Kafka clients of {config.app_id}: {exc}") from exc
        self.restorer = Restorer(
            self._reader,
            metrics,
            settle_timeout_s=config.transaction_timeout_ms / 1000 + 20,
            beat=self._beat,
        )
        self.rebalance = RebalanceHandler(self.checkpoint)
        self.hot_path = HotPath(processor, self.checkpoint, config.max_record_bytes, config.app_id)
        self.cycle_ctx = CycleContext(self.registry.stores, config.max_record_bytes)
        self.checkpoint.on_abort.append(self._drop_pending_emits)
        self.punctuator = cast(Punctuator, processor) if hasattr(processor, "punctuate") else None
        self._interval_s = config.commit_interval_ms / 1000
        self._idle_commit_s = min(config.idle_commit_ms, config.commit_interval_ms) / 1000
        self._drained = False
        self.last_cycle = time.monotonic()

    @property
    def processed(self) -> int:
        return self.hot_path.processed

    def _build(
        self, config: RuntimeConfig, settings: Settings, factory: ProducerFactory | None
    ) -> None:
        """The Kafka clients and the checkpoint over them."""
        metrics = self.metrics
        self.login = LoginWatch(settings, config.app_id)
        confs = client_configs(config, settings, self.login)
        self.consumer = GroupConsumer(confs.consumer)
        self.producer: OutputProducer
        self.checkpoint: Checkpoint[Any]
        if config.exactly_once:
            client = factory(confs.producer) if factory is not None else None
            self.txn: TransactionalProducer | None = TransactionalProducer(confs.producer, client)
            self.producer = self.txn
            self.checkpoint = ExactlyOnceCheckpoint(
                self.txn, self.consumer, self.registry, metrics, config.snapshot_interval_ms
            )
        else:
            self.txn = None
            plain = PlainProducer(confs.producer)
            self.producer = plain
            self.checkpoint = AtLeastOnceCheckpoint(
                plain, self.consumer, self.registry, metrics, config.snapshot_interval_ms
            )
        self._reader = ChangelogReader(confs.reader, confs.probe)

    def _beat(self) -> None:
        """Long work inside a cycle (a restore) is progress, not a stall (``/healthz``)."""
        self.last_cycle = time.monotonic()

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
        deadline = time.monotonic() + self.config.topic_wait_ms / 1000
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
        self.checkpoint.finish_or_abort()
        self.checkpoint.snapshot_now()
        self.consumer.close()  # runs on_revoke for what is left
        self.producer.close()
        self.restorer.reader.close()

    def close_after_failure(self) -> None:
        """Drop everything uncommitted; do not commit anything; destroy the clients."""
        self.rebalance.closing = True
        for store in self.registry.all_stores():
            store.inner.abort()
        for tp in list(self.registry.tasks):
            self.registry.discard(tp)
            self.metrics.forget_partition(*tp)
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
            self.checkpoint.abort_and_rewind(str(exc))

    def _drop_pending_emits(self) -> None:
        """Forget outputs of the aborted transaction that were not produced yet.

        The record being processed when the error surfaced may have left emits and savepoints
        in the contexts; produced in the next transaction they would become visible.
        """
        self.hot_path.ctx.rollback()
        self.cycle_ctx.emits.clear()
        self.cycle_ctx.causes.clear()

    def _restore_assigned(self) -> None:
        restoring = self.registry.restoring()
        if not restoring:
            return
        # A restore can outlast transaction.timeout.ms: the coordinator would abort the open
        # transaction under us, and the next commit would be fenced. Commit it first.
        self.checkpoint.commit()
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
            self.hot_path.process_batch(msgs)

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

    def _punctuate(self) -> None:
        if self.punctuator is None:
            return
        ctx = self.cycle_ctx
        self.punctuator.punctuate(int(time.time() * 1000), ctx)
        if ctx.dropped:
            self.metrics.dropped_outputs.inc(ctx.dropped)
            ctx.dropped = 0
        if ctx.causes:  # only a processor that traces names causes (runtime/tracing.py)
            if self.hot_path.tracer is not None:
                self.hot_path.tracer.trace_caused(ctx.emits, ctx.causes)
            ctx.causes.clear()
        if ctx.emits:
            self.checkpoint.wrote = True  # KIP-447 must check this transaction's generation
            self.metrics.pending_out += self.hot_path.produce_emits(ctx.emits)
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
