"""What the pipeline bench watches while it loads: record clocks, group lag, window closes.

Each probe runs a thread of its own with its own Kafka clients and is closed by its owner:

- ``Arrivals``: per key, a time taken from each record of a topic read from its end; by default
  the wall clock at which a read_committed consumer saw it, or the record's own timestamp
  (``record_time``: the produce time of a CreateTime topic such as ``orders``);
- ``LagSampler``: every consumer group's lag in records, summed over its partitions, sampled
  about once a second (``monitoring.lag.LagReader``, the exporter's reader);
- ``WindowCloses``: when each analytics window's last per-partition stats record became readable.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, IsolationLevel, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from orderstream.config import Role, Settings, kafka_config
from orderstream.monitoring.lag import LagReader
from orderstream.ops.topics_reader import end_offsets, partitions_of
from orderstream.serde import EventSerde
from orderstream.services.analytics.events import OrderStats
from orderstream.services.topics import ENRICHED_ORDERS

Clock = Callable[[Message], float]


def seen_time(_msg: Message) -> float:
    """The wall clock when the bench's read_committed consumer saw the record."""
    return time.time()


def record_time(msg: Message) -> float:
    """The record's own timestamp (CreateTime: when the producer's ``produce`` was called)."""
    return msg.timestamp()[1] / 1000


def admin_for(settings: Settings) -> AdminClient:
    return AdminClient(kafka_config(Role.ADMIN, "bench", settings=settings))


def _consumer(settings: Settings) -> Consumer:
    conf = kafka_config(
        Role.CONSUMER,
        "bench-arrivals",
        settings=settings,
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        overrides={"fetch.wait.max.ms": 5, "fetch.min.bytes": 1},
    )
    return Consumer(conf)


class _Follower:
    """A daemon thread that hands every record of ``topic`` from its end to ``_note``."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._consumer = _consumer(settings)
        # Explicit offsets: OFFSET_END resolves lazily and would skip the first records.
        admin = admin_for(settings)
        parts = partitions_of(admin, topic)
        ends = end_offsets(admin, topic, parts, IsolationLevel.READ_UNCOMMITTED)
        self.partitions = len(parts)
        self._consumer.assign([TopicPartition(topic, p, ends[p]) for p in parts])
        self._running = True
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while self._running:
            for msg in self._consumer.consume(5000, 0.05):
                if msg.error() is None:
                    self._note(msg)

    def _note(self, msg: Message) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._running = False
        self._thread.join(5)
        self._consumer.close()


class Arrivals(_Follower):
    """Per key, the ``clock`` time of the record of ``topic`` that carried it (the last one)."""

    def __init__(
        self, settings: Settings, topic: str = ENRICHED_ORDERS, clock: Clock = seen_time
    ) -> None:
        self.seen: dict[bytes, float] = {}
        self.first = 0.0
        self._clock = clock
        super().__init__(settings, topic)

    def _note(self, msg: Message) -> None:
        key = msg.key()
        if isinstance(key, bytes):
            now = self._clock(msg)
            self.first = self.first or now
            self.seen[key] = now

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def series(self, bucket_s: float = 1.0) -> list[list[float]]:
        """``[[t_s, records_per_s], ...]`` from the first arrival, one point per bucket."""
        if not self.seen:
            return []
        counts: dict[int, int] = {}
        for at in self.seen.values():
            index = int((at - self.first) / bucket_s)
            counts[index] = counts.get(index, 0) + 1
        return [
            [round(i * bucket_s, 2), round(counts.get(i, 0) / bucket_s)]
            for i in range(max(counts) + 1)
        ]


class WindowCloses(_Follower):
    """Per analytics window start (ms), when its last per-partition OrderStats was readable."""

    def __init__(self, settings: Settings, topic: str, inputs: int) -> None:
        self._serde = EventSerde.from_settings(settings)
        self.inputs = inputs  # one stats record per input partition and window
        self.last_seen: dict[int, float] = {}
        self.records: dict[int, int] = {}
        super().__init__(settings, topic)

    def _note(self, msg: Message) -> None:
        stats = self._serde.decode(msg.value())
        if isinstance(stats, OrderStats):
            self.last_seen[stats.window_start] = time.time()
            self.records[stats.window_start] = self.records.get(stats.window_start, 0) + 1

    def complete(self, starts: set[int]) -> bool:
        return all(self.records.get(s, 0) >= self.inputs for s in starts)

    def close(self) -> None:
        super().close()
        self._serde.close()


class LagSampler:
    """Each group's lag in records, sampled until ``stop``; the bench's own groups left out."""

    def __init__(self, settings: Settings, interval_s: float = 1.0) -> None:
        config = kafka_config(Role.CONSUMER, "bench-lag", settings=settings, group_id="bench-lag")
        self._reader = LagReader(admin_for(settings), config)
        self._interval = interval_s
        self.samples: dict[str, list[int]] = {}
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> LagSampler:
        self._thread.start()
        return self

    def read(self) -> dict[str, int]:
        """Lag per group now, in records (only groups that have committed offsets)."""
        totals: dict[str, int] = {}
        for lag in self._reader.read():
            if not lag.group.startswith("bench-"):
                totals[lag.group] = totals.get(lag.group, 0) + lag.records
        return totals

    def _sample(self) -> None:
        while not self._halt.is_set():
            began = time.monotonic()
            for group, records in self.read().items():
                self.samples.setdefault(group, []).append(records)
            self._halt.wait(max(0.0, self._interval - (time.monotonic() - began)))

    def stop(self) -> dict[str, list[int]]:
        self._halt.set()
        self._thread.join(30)
        return self.samples

    def close(self) -> None:
        self._reader.close()
        # Let its admin client go now, while the broker is up: one left for the garbage
        # collector was seen reconnecting to a stopped broker when the bench exited.
        del self._reader
