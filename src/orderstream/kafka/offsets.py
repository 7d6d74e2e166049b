"""Partitions and end offsets of a topic (asked through an admin client), and where a
``TopicTable`` starts reading each partition.

Shared by ``TopicTable`` (kafka/table.py), the audit, the chaos checkers and the benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    IsolationLevel,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from orderstream.errors import PlatformError
from orderstream.kafka.errors import access_denied, kafka_error, refused_access

LIST_OFFSETS_RETRY_S = 60.0


def partitions_of(admin: AdminClient, topic: str) -> list[int]:
    try:
        meta = admin.list_topics(topic, timeout=10)
    except KafkaException as exc:
        raise PlatformError(f"cannot read metadata of {topic}: {exc}") from exc
    described = meta.topics.get(topic)
    if described is not None and refused_access(described.error):
        raise access_denied(topic, described.error, None)
    if described is None or described.error is not None:
        raise PlatformError(f"topic {topic} does not exist; run 'orderstream topics apply'")
    return sorted(described.partitions)


def end_offsets(
    admin: AdminClient,
    topic: str,
    parts: list[int],
    isolation: IsolationLevel,
    retry_s: float = LIST_OFFSETS_RETRY_S,
) -> dict[int, int]:
    """The end offset of each partition as a reader of this isolation level sees it.

    Right after a leader change ListOffsets answers FENCED_LEADER_EPOCH, NOT_LEADER or a timeout
    for a moment (the client's metadata is stale), so a failed partition is asked again, for up
    to ``retry_s``; the audit must not fail on a broker that is just handing over leadership.
    A refused authorization is no such moment: it is raised at once.
    """
    ends: dict[int, int] = {}
    deadline = time.monotonic() + retry_s
    while True:
        missing = [p for p in parts if p not in ends]
        request = {TopicPartition(topic, p): OffsetSpec.latest() for p in missing}  # type: ignore[no-untyped-call]
        failure: KafkaException | None = None
        try:
            futures = admin.list_offsets(request, isolation_level=isolation, request_timeout=15)
        except KafkaException as exc:
            futures, failure = {}, exc
        for tp, fut in futures.items():
            try:
                ends[tp.partition] = fut.result(20).offset
            except KafkaException as exc:
                failure = exc
        if failure is None:
            return ends
        if refused_access(kafka_error(failure)):
            raise access_denied(topic, kafka_error(failure), None) from failure
        if time.monotonic() > deadline:
            raise PlatformError(
                f"listing the end offsets of {topic} kept failing for {retry_s:.0f}s: {failure}"
            ) from failure
        time.sleep(0.5)


# Where each partition starts: (consumer, topic, partitions) -> {partition: offset}.
StartAt = Callable[[Consumer, str, list[int]], dict[int, int]]


def from_beginning(_consumer: Consumer, _topic: str, parts: list[int]) -> dict[int, int]:
    return dict.fromkeys(parts, OFFSET_BEGINNING)


def from_offsets(offsets: Mapping[int, int]) -> StartAt:
    """Start each listed partition at its offset; other partitions are not read."""
    return lambda _c, _t, parts: {p: offsets[p] for p in parts if p in offsets}


def from_seconds_ago(window_s: float) -> StartAt:
    """Start at the first record younger than ``window_s`` (a partition with none: its end)."""

    def start(consumer: Consumer, topic: str, parts: list[int]) -> dict[int, int]:
        since_ms = int((time.time() - window_s) * 1000)
        wanted = [TopicPartition(topic, p, since_ms) for p in parts]
        found = consumer.offsets_for_times(wanted, timeout=10)
        return {tp.partition: max(tp.offset, OFFSET_END) for tp in found}

    return start
