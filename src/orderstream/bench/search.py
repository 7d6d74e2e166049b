"""The sustainable rate: the highest offered rate at which the pipeline keeps up.

Pure logic, no Kafka: a step is measured by a callable, so the search is tested on fake
measurements. A step keeps up when every consumer group's lag stays bounded over the step
(``lag_bounded``) and analytics' window-close p99 is at most ``CLOSE_P99_LIMIT_MS``.

The search climbs a ladder of rates until the first step that does not keep up, then bisects
between the last rate that did and that one until the gap is at most ``resolution``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

CLOSE_P99_LIMIT_MS = 1_000.0
LADDER = (2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 40_000)
GROWTH_LIMIT_S = 0.25  # lag may grow by at most this many seconds of input over a step


def lag_bounded(samples: Sequence[int], rate: float) -> bool:
    """Whether a group's lag (records, sampled over one step) stays bounded.

    Bounded: the mean lag of the step's second half exceeds that of its first half by at most
    ``GROWTH_LIMIT_S`` seconds of input. A group that falls behind grows its lag by the whole
    difference between offered and served rate, so a step of a few seconds shows it; a commit
    interval's worth of lag that comes and goes does not count.
    """
    if len(samples) < 2:
        return True
    half = len(samples) // 2
    first, second = samples[:half], samples[half:]
    growth = sum(second) / len(second) - sum(first) / len(first)
    return growth <= GROWTH_LIMIT_S * rate


@dataclass(frozen=True)
class Step:
    """One measured step: what was offered and achieved, and whether the pipeline kept up."""

    rate: int
    achieved: float
    lags: dict[str, list[int]]  # group -> lag samples in records
    close_p99_ms: float | None  # None: no window closed in the step

    @property
    def bounded(self) -> dict[str, bool]:
        return {group: lag_bounded(samples, self.rate) for group, samples in self.lags.items()}

    @property
    def kept_up(self) -> bool:
        close_ok = self.close_p99_ms is not None and self.close_p99_ms <= CLOSE_P99_LIMIT_MS
        return close_ok and all(self.bounded.values())

    def as_json(self) -> dict[str, object]:
        return {
            "rate": self.rate,
            "achieved": round(self.achieved),
            "close_p99_ms": self.close_p99_ms,
            "lag_bounded": self.bounded,
            "final_lag": {group: samples[-1] for group, samples in self.lags.items() if samples},
            "kept_up": self.kept_up,
        }


@dataclass
class Search:
    """The steps tried, in order, and the sustainable rate they found (0: not even the first)."""

    steps: list[Step] = field(default_factory=list)
    sustainable: int = 0


def find_sustainable(
    measure: Callable[[int], Step], ladder: Sequence[int] = LADDER, resolution: int = 1_000
) -> Search:
    """Climb ``ladder`` to the first step that does not keep up, then bisect below it."""
    search = Search()
    low, high = 0, 0
    for rate in ladder:
        step = _tried(search, measure, rate)
        if not step.kept_up:
            high = rate
            break
        low = rate
    if not high:  # the whole ladder kept up: its top is what was shown
        search.sustainable = low
        return search
    while high - low > resolution:
        middle = _round_to(low + (high - low) // 2, resolution // 2 or 1)
        if middle in (low, high):
            break
        if _tried(search, measure, middle).kept_up:
            low = middle
        else:
            high = middle
    search.sustainable = low
    return search


def _tried(search: Search, measure: Callable[[int], Step], rate: int) -> Step:
    step = measure(rate)
    search.steps.append(step)
    return step


def _round_to(value: int, unit: int) -> int:
    return max(unit, round(value / unit) * unit)
