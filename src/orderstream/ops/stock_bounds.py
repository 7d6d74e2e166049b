"""Audit check 5's lower bound on a product's stock at an order's timestamp.

available = restocks stamped before the order - reservations enriched at or before it; an order
refused with ``available >= quantity`` was refused stock it had. Prefix sums over time-sorted
points make each bound a binary search."""

from __future__ import annotations

import bisect

from orderstream.serde import EnrichedOrder


def wrongly_refused(
    refusals: list[EnrichedOrder],
    restocked_at: dict[str, list[tuple[int, int]]],
    reserved_at: dict[str, list[tuple[int, int]]],
) -> list[tuple[EnrichedOrder, int]]:
    """Refusals with ``available >= quantity``, and that lower bound of the product's stock.

    available = restocks stamped before the order - reservations enriched at or before it.
    """
    restocks = {p: _prefix_sums(sorted(v)) for p, v in restocked_at.items()}
    reserved = {p: _prefix_sums(sorted(v)) for p, v in reserved_at.items()}
    wrong = []
    for order in refusals:
        stocked = _sum_before(restocks.get(order.product_id), order.timestamp)
        taken = _sum_up_to(reserved.get(order.product_id), order.enriched_at)
        if stocked - taken >= order.quantity:
            wrong.append((order, stocked - taken))
    return wrong


def _prefix_sums(points: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    times, sums, total = [], [], 0
    for at, amount in points:
        total += amount
        times.append(at)
        sums.append(total)
    return times, sums


def _sum_before(series: tuple[list[int], list[int]] | None, at: int) -> int:
    """The total of the points strictly before ``at``."""
    if series is None:
        return 0
    n = bisect.bisect_left(series[0], at)
    return series[1][n - 1] if n else 0


def _sum_up_to(series: tuple[list[int], list[int]] | None, at: int) -> int:
    """The total of the points at or before ``at``."""
    if series is None:
        return 0
    n = bisect.bisect_right(series[0], at)
    return series[1][n - 1] if n else 0
