"""Invariant 3: the totals of closed windows equal the totals recomputed from enriched-orders.

The recomputation takes, per partition, the enriched orders below the analytics group's
committed offset (their effects are committed with that offset), minus the orders analytics
sent to the late topic, and groups them by window. Then:

- every (window, partition) in ``order-stats`` appears once, and its counts, revenue (total and
  per category) and product counts equal the recomputed ones;
- no window is missing: windows of a partition close in order, so every recomputed window older
  than the partition's newest closed window must be in ``order-stats``;
- no window is invented: each one in ``order-stats`` has recomputed orders.

While orders flow, the reads of the topics and of the offsets are not one snapshot, so the
audit re-checks until the pipeline has settled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka.admin import AdminClient

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import DeserializationError
from orderstream.serde import EnrichedOrder
from orderstream.services.analytics.events import APP_ID, AnalyticsTopics, OrderStats, facts_of
from orderstream.services.analytics.windows import WindowAggregate, WindowSpec

CHECK_NAME = "3. analytics window totals = totals recomputed from enriched-orders"
_COMPARED = (
    "orders",
    "reserved",
    "rejected",
    "revenue_cents",
    "revenue_by_category",
    "product_orders",
)


@dataclass
class WindowAudit:
    """The verdict of invariant 3 and the figures behind it."""

    problems: list[str] = field(default_factory=list)
    windows: int = 0
    orders_in_windows: int = 0
    late: int = 0
    open_orders: int = 0
    unprocessed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        text = (
            f"{self.windows} closed (window, partition) with {self.orders_in_windows} orders, "
            f"{self.late} late, {self.open_orders} in open windows, "
            f"{self.unprocessed} not yet processed"
        )
        if self.problems:
            text += f"; {len(self.problems)} problems, e.g. " + "; ".join(self.problems[:3])
        return text


def audit_windows(
    enriched: Iterable[tuple[int, int, EnrichedOrder]],
    committed: Mapping[int, int],
    late_order_ids: Iterable[str],
    stats: Iterable[OrderStats],
) -> WindowAudit:
    """Compare closed windows with a recomputation; ``enriched`` is (partition, offset, order)."""
    result = WindowAudit()
    emitted = _index_stats(stats, result)
    late = Counter(late_order_ids)
    result.late = sum(late.values())
    size = next((r.window_end - r.window_start for r in emitted.values()), None)
    recomputed: dict[tuple[int, int], WindowAggregate] = {}
    spec = WindowSpec(size_ms=size) if size else None
    for partition, offset, order in enriched:
        if offset >= committed.get(partition, 0):
            result.unprocessed += 1
        elif late.get(order.order_id, 0) > 0:
            late[order.order_id] -= 1
        elif spec is not None:
            start = spec.start_of(order.timestamp)
            window = recomputed.get((start, partition))
            if window is None:
                window = recomputed[(start, partition)] = WindowAggregate(
                    start, start + spec.size_ms
                )
            window.add(facts_of(order))
        else:
            result.open_orders += 1
    _compare(emitted, recomputed, result)
    return result


def _index_stats(
    stats: Iterable[OrderStats], result: WindowAudit
) -> dict[tuple[int, int], OrderStats]:
    emitted: dict[tuple[int, int], OrderStats] = {}
    seen: Counter[tuple[int, int]] = Counter()
    for record in stats:
        key = (record.window_start, record.partition)
        seen[key] += 1
        emitted[key] = record
    for (start, partition), n in sorted(seen.items()):
        if n > 1:
            result.problems.append(f"window {start} of partition {partition} emitted {n} times")
    return emitted


def _compare(
    emitted: Mapping[tuple[int, int], OrderStats],
    recomputed: Mapping[tuple[int, int], WindowAggregate],
    result: WindowAudit,
) -> None:
    newest: dict[int, int] = {}
    for start, partition in emitted:
        newest[partition] = max(start, newest.get(partition, start))
    for key, window in sorted(recomputed.items()):
        start, partition = key
        record = emitted.get(key)
        if record is None:
            if start < newest.get(partition, start):
                result.problems.append(f"window {start} of partition {partition} never emitted")
            else:
                result.open_orders += window.orders
            continue
        result.windows += 1
        result.orders_in_windows += record.orders
        carried = record.aggregate()
        for name in _COMPARED:
            want, have = getattr(window, name), getattr(carried, name)
            if want != have:
                result.problems.append(
                    f"window {start} partition {partition}: {name} is {_short(have)}, "
                    f"recomputed {_short(want)}"
                )
    for start, partition in sorted(emitted.keys() - recomputed.keys()):
        result.problems.append(f"window {start} of partition {partition} has no orders behind it")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) < 60 else text[:57] + "..."


# -- reading the topics (used by ``orderstream audit`` through its snapshot) --------------------


class _Raw(Protocol):
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class _Decoder(Protocol):
    def decode(self, data: bytes | None) -> Any: ...


class TopicSnapshot(Protocol):
    """What the audit's snapshot offers: settings, a serde and followed raw records."""

    settings: Settings
    serde: Any

    def follow(self, topic: str) -> Sequence[Any]: ...


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of ``topic`` (empty when none)."""
    admin = AdminClient(kafka_config(Role.ADMIN, "audit", settings=settings))
    request = [ConsumerGroupTopicPartitions(group)]
    try:
        parts = admin.list_consumer_group_offsets(request)[group].result(20).topic_partitions
    except KafkaException:
        return {}
    return {tp.partition: tp.offset for tp in parts or [] if tp.topic == topic and tp.offset >= 0}


def audit_from_records(
    serde: _Decoder,
    enriched: Sequence[_Raw],
    late: Sequence[_Raw],
    stats: Sequence[_Raw],
    committed: Mapping[int, int],
) -> WindowAudit:
    """Decode the raw records, then :func:`audit_windows`; undecodable ones are skipped."""
    return audit_windows(
        _decoded_orders(serde, enriched),
        committed,
        [o.order_id for _, _, o in _decoded_orders(serde, late)],
        [s for s in (_decode(serde, r.value) for r in stats) if isinstance(s, OrderStats)],
    )


def _decoded_orders(
    serde: _Decoder, records: Sequence[_Raw]
) -> list[tuple[int, int, EnrichedOrder]]:
    out = []
    for r in records:
        event = _decode(serde, r.value)
        if isinstance(event, EnrichedOrder):
            out.append((r.partition, r.offset, event))
    return out


def _decode(serde: _Decoder, value: bytes | None) -> Any:
    try:
        return serde.decode(value)
    except DeserializationError:
        return None


@dataclass(frozen=True)
class AnalyticsCheckResult:
    ok: bool
    detail: str


def check_analytics_totals(
    snap: TopicSnapshot, topics: AnalyticsTopics | None = None
) -> AnalyticsCheckResult:
    """Invariant 3 on the live topics; passes trivially while analytics never committed."""
    topics = topics or AnalyticsTopics()
    committed = committed_offsets(snap.settings, topics.prefix + APP_ID, topics.enriched)
    if not committed:
        return AnalyticsCheckResult(True, "analytics has committed nothing yet: no window to check")
    enriched, late, stats = (snap.follow(t) for t in (topics.enriched, topics.late, topics.stats))
    if not getattr(snap, "_analytics_followed", False):
        # Topics followed for the first time are read by the snapshot's next refresh.
        setattr(snap, "_analytics_followed", True)  # noqa: B010 - a mark on a foreign object
        return AnalyticsCheckResult(False, "reading the analytics topics")
    result = audit_from_records(snap.serde, enriched, late, stats, committed)
    return AnalyticsCheckResult(result.ok, result.summary())
