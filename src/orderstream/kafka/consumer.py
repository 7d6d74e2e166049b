"""Typed wrappers over confluent_kafka's Consumer: the group consumer, the changelog reader."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from orderstream.config import KafkaConfig
from orderstream.kafka.errors import broker_unavailable

logger = logging.getLogger(__name__)

TP = tuple[str, int]
RebalanceCallback = Callable[[list[TP]], None]


def _tps(partitions: Iterable[TopicPartition]) -> list[TP]:
    return [(p.topic, p.partition) for p in partitions]


class GroupConsumer:
    """A subscribed consumer (read_committed, cooperative-sticky) with typed partition tuples."""

    def __init__(self, conf: KafkaConfig) -> None:
        self._consumer = Consumer(conf)
        self.closed = False

    def subscribe(
        self,
        topics: Sequence[str],
        on_assign: RebalanceCallback,
        on_revoke: RebalanceCallback,
        on_lost: RebalanceCallback,
    ) -> None:
        def assign(_c: Any, parts: list[TopicPartition]) -> None:
            on_assign(_tps(parts))

        def revoke(_c: Any, parts: list[TopicPartition]) -> None:
            on_revoke(_tps(parts))

        def lost(_c: Any, parts: list[TopicPartition]) -> None:
            on_lost(_tps(parts))

        self._consumer.subscribe(list(topics), on_assign=assign, on_revoke=revoke, on_lost=lost)

    def consume(self, max_records: int, timeout_s: float) -> list[Message]:
        try:
            return self._consumer.consume(max_records, timeout_s)
        except KafkaException as exc:
            raise broker_unavailable(exc, "consuming") from exc

    def incremental_assign(self, partitions: Sequence[TP]) -> None:
        self._consumer.incremental_assign([TopicPartition(t, p) for t, p in partitions])

    def incremental_unassign(self, partitions: Sequence[TP]) -> None:
        self._consumer.incremental_unassign([TopicPartition(t, p) for t, p in partitions])

    def pause(self, partitions: Sequence[TP]) -> None:
        if partitions:
            self._consumer.pause([TopicPartition(t, p) for t, p in partitions])

    def resume(self, partitions: Sequence[TP]) -> None:
        if partitions:
            self._consumer.resume([TopicPartition(t, p) for t, p in partitions])

    def seek(self, tp: TP, offset: int) -> None:
        try:
            self._consumer.seek(TopicPartition(tp[0], tp[1], offset))
        except KafkaException as exc:
            raise broker_unavailable(exc, f"seeking {tp} to {offset}") from exc

    def committed(self, partitions: Sequence[TP], timeout_s: float = 30.0) -> dict[TP, int]:
        """Committed offsets (waiting for pending transactional commits to settle).

        Partitions without a committed offset map to ``OFFSET_BEGINNING``.
        """
        if not partitions:
            return {}
        try:
            found = self._consumer.committed(
                [TopicPartition(t, p) for t, p in partitions], timeout=timeout_s
            )
        except KafkaException as exc:
            raise broker_unavailable(exc, "reading committed offsets") from exc
        return {
            (tp.topic, tp.partition): tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            for tp in found
        }

    def commit(self, offsets: dict[TP, int]) -> None:
        """Synchronous offset commit (at-least-once mode)."""
        if not offsets:
            return
        try:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=False,
            )
        except KafkaException as exc:  # e.g. REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION
            raise broker_unavailable(exc, "committing offsets") from exc

    def topics(self, timeout_s: float = 10.0) -> set[str]:
        """Names of the topics that exist."""
        try:
            return set(self._consumer.list_topics(timeout=timeout_s).topics)
        except KafkaException as exc:
            raise broker_unavailable(exc, "listing topics") from exc

    def group_metadata(self) -> object:
        try:
            return self._consumer.consumer_group_metadata()
        except KafkaException as exc:
            raise broker_unavailable(exc, "reading the group metadata") from exc

    def end_offsets(self, tp: TP, timeout_s: float = 10.0, cached: bool = False) -> tuple[int, int]:
        """(low, high) watermarks; high is the last stable offset for read_committed."""
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(tp[0], tp[1]), timeout=timeout_s, cached=cached
            )
        except KafkaException as exc:
            raise broker_unavailable(exc, f"reading the end offsets of {tp}") from exc
        return int(low), int(high)

    def close(self) -> None:
        """Leave the group (runs the revoke callback) and release the client."""
        if not self.closed:
            self.closed = True
            self._consumer.close()


class ChangelogReader:
    """An assign-only ``read_committed`` consumer that reads changelog partitions to their end."""

    def __init__(self, conf: KafkaConfig, uncommitted_conf: KafkaConfig) -> None:
        self._consumer = Consumer(conf)
        # Its watermarks are log end offsets; the committed reader's are last stable offsets.
        self._probe = Consumer(uncommitted_conf)

    def offsets(self, tp: TP, timeout_s: float = 10.0) -> tuple[int, int, int]:
        """(low, last stable offset, log end offset) of a changelog partition."""
        part = TopicPartition(tp[0], tp[1])
        try:
            low, stable = self._consumer.get_watermark_offsets(part, timeout=timeout_s)
            _, end = self._probe.get_watermark_offsets(part, timeout=timeout_s)
        except KafkaException as exc:
            raise broker_unavailable(exc, f"reading the offsets of changelog {tp}") from exc
        return int(low), int(stable), int(end)

    def start(self, tp: TP, offset: int) -> None:
        self._consumer.assign([TopicPartition(tp[0], tp[1], offset)])

    def read(self, max_records: int, timeout_s: float) -> list[Message]:
        try:
            return self._consumer.consume(max_records, timeout_s)
        except KafkaException as exc:
            raise broker_unavailable(exc, "reading a changelog") from exc

    def position(self, tp: TP) -> int:
        (part,) = self._consumer.position([TopicPartition(tp[0], tp[1])])
        return int(part.offset)

    def stop(self) -> None:
        self._consumer.unassign()

    def close(self) -> None:
        self._consumer.close()
        self._probe.close()
