"""``orderstream topics plan``: partitions per topic from a peak order rate and measured rates.

The rule (the seed's): a topic gets about 2 x the largest number of consumers that any group
reading it will need, so a group can double its instances before the topic must be
repartitioned (adding partitions later moves keys: it breaks per-key order and
co-partitioning). Consumers needed = ceil(peak records/s / what one consumer does, measured).
No more than that: extra partitions cost broker memory, file handles, rebalance and
transaction time, and buy nothing once every consumer has two.

Topics whose size is not throughput-driven (dead-letter queues, the compacted catalog,
``_schemas``, the one-partition analytics outputs) keep what topology.toml says. Co-partitioned
topics (joined by key in one task) get the same count, the largest of their group. Kafka cannot
lower a topic's partitions, so a plan never goes below topology.toml: it says "keep" instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from orderstream.errors import ConfigError
from orderstream.platform.topology import TopicSpec


@dataclass(frozen=True)
class Stage:
    """One consumer group, the topics it reads and the measured figure that bounds it."""

    name: str
    reads: tuple[str, ...]
    rate_key: str  # the key in StageRates
    records_per_order: float = 1.0


# Records per second that one consumer (one Python process, exactly-once, 100 ms commits) handles,
# measured with `orderstream bench runtime` on the 2-core development machine (median of six
# interleaved rounds, 2026-12-01). Replace them with this machine's figures with --bench FILE.
MEASURED_RATES: dict[str, float] = {
    "eos_stateless_rps": 90_000.0,  # enrichment stage 1: re-key orders by product
    "eos_stateful_rps": 55_000.0,  # enrichment stage 2 (stock) and analytics windows
}

STAGES: tuple[Stage, ...] = (
    Stage("enrichment: re-key by product", ("orders",), "eos_stateless_rps"),
    Stage(
        "enrichment: reserve stock",
        ("orders-by-product", "inventory-adjustments"),
        "eos_stateful_rps",
    ),
    Stage("analytics: windows and alerts", ("enriched-orders",), "eos_stateful_rps"),
)

# Topics read together by key in one task must have the same partition count.
CO_PARTITIONED: tuple[tuple[str, ...], ...] = (
    ("orders-by-product", "inventory-adjustments", "enrichment-stock-changelog"),
    ("enriched-orders", "analytics-state-changelog"),
)


@dataclass(frozen=True)
class TopicPlan:
    topic: str
    stage: str
    peak_rps: float
    per_consumer_rps: float
    consumers: int
    partitions: int
    current: int | None
    action: str  # "create", "add", "keep" or "ok"
    reason: str


@dataclass(frozen=True)
class PartitionPlan:
    peak_orders_per_s: float
    min_consumers: int
    rates: dict[str, float]
    topics: tuple[TopicPlan, ...]

    @property
    def changes(self) -> tuple[TopicPlan, ...]:
        return tuple(t for t in self.topics if t.action in ("add", "create"))

    def as_json(self) -> dict[str, object]:
        return {
            "peak_orders_per_s": self.peak_orders_per_s,
            "min_consumers": self.min_consumers,
            "rates": self.rates,
            "topics": [asdict(t) for t in self.topics],
            "changes": [
                {"topic": t.topic, "from": t.current, "to": t.partitions} for t in self.changes
            ],
        }

    def diff_lines(self) -> list[str]:
        """The changes to topology.toml, in the style of ``topics apply``'s plan."""
        return [
            f"~ {t.topic}: partitions {t.current} -> {t.partitions}"
            if t.current is not None
            else f"+ {t.topic}: partitions = {t.partitions}"
            for t in self.changes
        ]


def rates_from_bench(path: Path) -> dict[str, float]:
    """Per-consumer figures from ``orderstream bench runtime --json`` output."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read bench figures {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not JSON from `orderstream bench runtime --json`: {exc}"
        ) from exc
    found = {k: float(data[k]) for k in MEASURED_RATES if isinstance(data.get(k), int | float)}
    if not found:
        raise ConfigError(
            f"{path} has none of {', '.join(MEASURED_RATES)}: save the output of "
            "`orderstream bench runtime --json` there"
        )
    return {**MEASURED_RATES, **found}


def consumers_needed(peak_rps: float, per_consumer_rps: float, minimum: int) -> int:
    if per_consumer_rps <= 0:
        raise ConfigError(f"a measured rate must be positive, got {per_consumer_rps}")
    return max(minimum, math.ceil(peak_rps / per_consumer_rps))


def plan_partitions(
    peak_orders_per_s: float,
    topology: list[TopicSpec],
    *,
    rates: Mapping[str, float] = MEASURED_RATES,
    min_consumers: int = 1,
    max_partitions: int = 120,
) -> PartitionPlan:
    """Partitions for every throughput-driven topic, and how they differ from ``topology``."""
    if peak_orders_per_s <= 0:
        raise ConfigError(f"--peak-orders-per-s must be positive, got {peak_orders_per_s}")
    if min_consumers < 1:
        raise ConfigError(f"--min-consumers must be at least 1, got {min_consumers}")
    current = {t.name: t.partitions for t in topology}
    wanted: dict[str, tuple[Stage, float, float, int]] = {}
    for stage in STAGES:
        per_consumer = float(rates[stage.rate_key])
        peak = peak_orders_per_s * stage.records_per_order
        consumers = consumers_needed(peak, per_consumer, min_consumers)
        for topic in stage.reads:
            wanted[topic] = (stage, peak, per_consumer, consumers)
    partitions = {t: min(max_partitions, 2 * w[3]) for t, w in wanted.items()}
    notes: dict[str, str] = {}
    for group in CO_PARTITIONED:
        # The largest of the group, counting what the others have now: none can be lowered.
        shared = max(max(partitions.get(t, 1), current.get(t, 1)) for t in group)
        for topic in group:
            if partitions.get(topic) not in (None, shared):
                notes[topic] = f"; {shared}, the most in its co-partitioned group now or planned"
            partitions[topic] = shared
    topics = tuple(
        _topic_plan(topic, partitions[topic], current.get(topic), wanted, max_partitions)
        for topic in sorted(partitions)
    )
    topics = tuple(
        TopicPlan(**{**asdict(t), "reason": t.reason + notes.get(t.topic, "")}) for t in topics
    )
    return PartitionPlan(peak_orders_per_s, min_consumers, dict(rates), topics)


def _topic_plan(
    topic: str,
    planned: int,
    current: int | None,
    wanted: Mapping[str, tuple[Stage, float, float, int]],
    max_partitions: int,
) -> TopicPlan:
    stage, peak, per_consumer, consumers = wanted.get(topic, (None, 0.0, 0.0, 0))
    if stage is None:
        name, reason = "co-partitioned", "same count as the topics it is joined with"
    else:
        name = stage.name
        reason = f"ceil({peak:,.0f} / {per_consumer:,.0f}) = {consumers} consumer(s), x 2"
        if 2 * consumers > max_partitions:
            reason += f", capped at --max-partitions {max_partitions}"
    if current is None:
        action = "create"
    elif planned > current:
        action = "add"
    elif planned < current:
        action, planned = "keep", current
        reason += "; topology.toml has more and partitions cannot be lowered"
    else:
        action = "ok"
    return TopicPlan(topic, name, peak, per_consumer, consumers, planned, current, action, reason)
