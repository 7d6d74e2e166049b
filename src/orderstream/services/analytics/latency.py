"""A mergeable latency histogram with bounded relative error (the DDSketch idea).

Latencies fall into logarithmic buckets: bucket ``i`` holds values in ``(g**(i-1), g**i]`` with
``g = 1.04``, so any percentile read back is within 2% of a true sample. Two sketches merge by
adding bucket counts, which is what per-partition window results need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

GAMMA = 1.04
_LOG_GAMMA = math.log(GAMMA)


def bucket_of(latency_ms: int) -> int:
    """The bucket index of a latency; zero and negative latencies (clock skew) share bucket 0."""
    if latency_ms <= 1:
        return 0
    return math.ceil(math.log(latency_ms) / _LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The representative value of a bucket: the point of least relative error."""
    if index <= 0:
        return 0.0 if index < 0 else 1.0
    return 2 * GAMMA**index / (GAMMA + 1)


@dataclass
class LatencySketch:
    """Counts per logarithmic bucket, plus the exact maximum."""

    buckets: dict[int, int] = field(default_factory=dict)
    max_ms: int = 0

    @property
    def count(self) -> int:
        return sum(self.buckets.values())

    def add(self, latency_ms: int) -> int:
        """Count one latency; returns its bucket (the store writes that bucket's count)."""
        index = bucket_of(latency_ms)
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.max_ms = max(latency_ms, self.max_ms)
        return index

    def merge(self, other: LatencySketch) -> LatencySketch:
        merged = dict(self.buckets)
        for index, n in other.buckets.items():
            merged[index] = merged.get(index, 0) + n
        return LatencySketch(merged, max(self.max_ms, other.max_ms))

    def percentile(self, q: float) -> float:
        """The ``q``-quantile (0 < q <= 1) in ms; 0.0 for an empty sketch."""
        total = self.count
        if total == 0:
            return 0.0
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(bucket_value(index), float(self.max_ms))
        return float(self.max_ms)

    def to_json(self) -> dict[str, object]:
        return {"b": {str(k): v for k, v in self.buckets.items()}, "max": self.max_ms}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> LatencySketch:
        raw = data.get("b", {})
        assert isinstance(raw, Mapping)
        max_ms = data.get("max", 0)
        return cls({int(k): int(v) for k, v in raw.items()}, int(max_ms))  # type: ignore[call-overload]

    @classmethod
    def of(cls, latencies: Iterable[int]) -> LatencySketch:
        sketch = cls()
        for latency in latencies:
            sketch.add(latency)
        return sketch
