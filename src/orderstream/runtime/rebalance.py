"""What the runtime does when the group moves partitions (cooperative-sticky, incremental).

- assigned: create a task per partition in RESTORING, pause it (nothing is processed before its
  stores are restored), restore it in the loop, then resume it;
- revoked: commit the open transaction (it covers the revoked partitions' progress), snapshot
  and close their tasks;
- lost: the partitions may already be someone else's: abort the open transaction, rewind what
  is still ours, and close the lost tasks without committing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from orderstream.kafka.consumer import TP, GroupConsumer
from orderstream.runtime.checkpoint import Checkpoint
from orderstream.runtime.metrics import RuntimeMetrics
from orderstream.runtime.tasks import TaskRegistry

logger = logging.getLogger(__name__)


class RebalanceHandler:
    """The consumer's rebalance callbacks, applied to the task registry and the checkpoint."""

    def __init__(
        self,
        consumer: GroupConsumer,
        registry: TaskRegistry,
        checkpoint: Checkpoint,
        metrics: RuntimeMetrics,
    ) -> None:
        self.consumer = consumer
        self.registry = registry
        self.checkpoint = checkpoint
        self.metrics = metrics
        self.closing = False  # set when the session is torn down after a failure

    def on_assign(self, partitions: list[TP]) -> None:
        logger.info("partitions assigned", extra={"partitions": partitions})
        self.consumer.incremental_assign(partitions)
        self.consumer.pause(partitions)
        for tp in partitions:
            self.registry.create(tp)
        self.metrics.assigned_partitions.set(len(self.registry.tasks))

    def on_revoke(self, partitions: list[TP]) -> None:
        logger.info("partitions revoked", extra={"partitions": partitions})
        if self.closing:
            self._give_up(partitions, self.registry.discard)
            return
        # The revoked partitions must not be rewound and processed again here, they are
        # someone else's now: a failed commit is aborted in place and rewound after closing.
        committed = self.checkpoint.finish_or_abort()
        self._give_up(partitions, self.registry.close)
        if not committed:
            self.checkpoint.rewind()

    def on_lost(self, partitions: list[TP]) -> None:
        logger.warning("partitions lost", extra={"partitions": partitions})
        self.metrics.partitions_lost.inc(len(partitions))
        if self.closing:
            self._give_up(partitions, self.registry.discard)
            return
        aborted = self.checkpoint.is_open
        if aborted:
            self.checkpoint.abort_in_place(f"partitions lost: {partitions}")
        # Backends hold committed state only, so their snapshots stay valid.
        self._give_up(partitions, self.registry.close)
        if aborted:
            self.checkpoint.rewind()

    def _give_up(self, partitions: list[TP], close: Callable[[TP], None]) -> None:
        for tp in partitions:
            close(tp)
            self.metrics.forget_partition(*tp)
        self.consumer.incremental_unassign(partitions)
        self.metrics.assigned_partitions.set(len(self.registry.tasks))
