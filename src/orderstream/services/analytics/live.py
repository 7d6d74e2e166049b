"""The live view behind the dashboard: what analytics knows right now, as one JSON snapshot.

The processing thread feeds it (orders seen, windows after each commit cycle, alerts); the lag
poller feeds consumer lag; the HTTP app reads ``snapshot()``. One lock guards it all. Exact,
audited numbers live in ``order-stats``; this view is for people watching.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orderstream.serde.events import to_record
from orderstream.services.analytics.events import OrderAlert
from orderstream.services.analytics.latency import LatencySketch
from orderstream.services.analytics.payments import Tally, payments_json, summed
from orderstream.services.analytics.store import Totals
from orderstream.services.analytics.windows import WindowAggregate, WindowSpec, merge_all

RECENT_WINDOWS = 30
RECENT_ALERTS = 20
RATE_SPAN_S = 5.0


@dataclass(frozen=True)
class ConsumerLag:
    """How far one consumer group is behind on one topic."""

    group: str
    topic: str
    lag: int
    partitions: int
    seconds: float = 0.0  # age of the oldest unconsumed record


@dataclass(frozen=True)
class CircuitView:
    """The payment circuit as last read from payments' /metrics; ``state`` None: unknown."""

    state: str | None = None  # "closed", "half-open", "open"
    detail: str = "not read yet"
    opened: int | None = None  # times it opened
    waiting: int | None = None  # orders waiting for a payment
    checked_at: float = 0.0
    source: str = ""


@dataclass
class _PartitionView:
    totals: Totals = field(default_factory=Totals)
    open: dict[int, WindowAggregate] = field(default_factory=dict)


class LiveView:
    """Thread-safe live state for ``/api/stats`` and the dashboard feed."""

    def __init__(self, spec: WindowSpec, clock: Any = time.time) -> None:
        self.spec = spec
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._partitions: dict[int, _PartitionView] = {}
        # start -> partition -> window; keyed so that a window closed again after an aborted
        # transaction replaces itself instead of counting twice.
        self._closed: dict[int, dict[int, WindowAggregate]] = {}
        self._alerts: deque[OrderAlert] = deque(maxlen=RECENT_ALERTS)
        self._lag: list[ConsumerLag] = []
        self._lag_at = 0.0
        self._seen = 0
        self._rate_samples: deque[tuple[float, int]] = deque()
        self._paid: dict[int, Tally] = {}
        self._failed: dict[int, Tally] = {}
        self._circuit = CircuitView()
        self.circuit_stale_s = 10.0  # an older reading is shown as unknown (the poller is stuck)
        self.seq = 0

    # -- writers -------------------------------------------------------------------------------
    def order_seen(self) -> None:
        self._seen += 1  # one writer thread; readers tolerate a torn read of a counter

    def alert(self, alert: OrderAlert) -> None:
        with self._lock:
            self._alerts.appendleft(alert)

    def partition_state(
        self, partition: int, totals: Totals, open_windows: Mapping[int, WindowAggregate]
    ) -> None:
        view = _PartitionView(totals, {s: _copy(w) for s, w in open_windows.items()})
        with self._lock:
            self._partitions[partition] = view

    def window_closed(self, partition: int, window: WindowAggregate) -> None:
        with self._lock:
            closed = self._closed.setdefault(window.start_ms, {})
            closed[partition] = _copy(window, products=True)
            for start in sorted(self._closed)[:-RECENT_WINDOWS]:
                del self._closed[start]

    def partitions_revoked(self, keep: set[int]) -> None:
        with self._lock:
            for partition in set(self._partitions) - keep:
                del self._partitions[partition]

    def payment_state(self, paid: Mapping[int, Tally], failed: Mapping[int, Tally]) -> None:
        """The payment tallies of the assigned partitions, after a commit cycle."""
        with self._lock:
            self._paid, self._failed = dict(paid), dict(failed)

    def set_circuit(self, circuit: CircuitView) -> None:
        with self._lock:
            self._circuit = circuit

    def set_lag(self, lag: list[ConsumerLag]) -> None:
        with self._lock:
            self._lag = list(lag)
            self._lag_at = self._clock()

    def cycle_done(self) -> None:
        """Wake the feeds: a commit cycle changed the view."""
        with self._lock:
            self.seq += 1
            self._sample_rate()
            self._changed.notify_all()

    def wait_change(self, seq: int, timeout: float) -> int:
        """Block until ``seq`` moved on (or timeout); the current seq."""
        with self._lock:
            self._changed.wait_for(lambda: self.seq != seq, timeout)
            return self.seq

    # -- the snapshot --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self._snapshot()

    def _sample_rate(self) -> None:
        now = self._clock()
        self._rate_samples.append((now, self._seen))
        while len(self._rate_samples) > 2 and now - self._rate_samples[1][0] >= RATE_SPAN_S:
            self._rate_samples.popleft()

    def _rate(self) -> float:
        if len(self._rate_samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._rate_samples[0], self._rate_samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def _snapshot(self) -> dict[str, Any]:
        windows = self._windows()
        totals = Totals()
        for view in self._partitions.values():
            t = view.totals
            totals.late += t.late
            totals.windows += t.windows
            totals.add_orders(t)
            for w in view.open.values():
                totals.add_orders(w)
        latency = LatencySketch()
        for _, window, _ in windows[-3:]:  # about the last 30 s
            latency = latency.merge(window.latency)
        last_closed = next((w for _, w, closed in reversed(windows) if closed), None)
        return {
            "generatedAt": int(self._clock() * 1000),
            "seq": self.seq,
            "window": {"sizeMs": self.spec.size_ms, "graceMs": self.spec.grace_ms},
            "ordersPerSec": round(self._rate(), 1),
            "totals": {
                "orders": totals.orders,
                "reserved": totals.reserved,
                "rejected": totals.rejected,
                "revenueCents": totals.revenue_cents,
                "late": totals.late,
                "windowsClosed": totals.windows,
            },
            "revenueByCategory": [
                {"category": c, "cents": v}
                for c, v in sorted(
                    totals.revenue_by_category.items(), key=lambda kv: (-kv[1], kv[0])
                )
            ],
            "latency": {
                "p50Ms": round(latency.percentile(0.5), 1),
                "p99Ms": round(latency.percentile(0.99), 1),
                "samples": latency.count,
            },
            "windows": [_window_json(w, closed) for _, w, closed in windows],
            "topProducts": [
                {"productId": p, "orders": n}
                for p, n in (last_closed.top_products() if last_closed else [])
            ],
            "lag": [
                {
                    "group": g.group,
                    "topic": g.topic,
                    "lag": g.lag,
                    "partitions": g.partitions,
                    "seconds": round(g.seconds, 3),
                }
                for g in self._lag
            ],
            "lagUpdatedAt": int(self._lag_at * 1000),
            "alerts": [_alert_json(a) for a in self._alerts],
            "payments": payments_json(
                summed(self._paid.values()), summed(self._failed.values()), totals.revenue_cents
            ),
            "circuit": self._circuit_json(),
        }

    def _circuit_json(self) -> dict[str, Any]:
        c = self._circuit
        state, detail = c.state, c.detail
        if state is not None and self._clock() - c.checked_at > self.circuit_stale_s:
            state, detail = None, f"no reading for over {self.circuit_stale_s:.0f} s"
        return {
            "state": state or "unknown",
            "detail": detail,
            "opened": c.opened,
            "waiting": c.waiting,
            "checkedAt": int(c.checked_at * 1000),
            "source": c.source,
        }

    def _windows(self) -> list[tuple[int, WindowAggregate, bool]]:
        """Recent windows merged over partitions, oldest first: (start, window, closed)."""
        by_start = {s: list(ws.values()) for s, ws in self._closed.items()}
        open_starts: set[int] = set()
        for view in self._partitions.values():
            for start, window in view.open.items():
                by_start.setdefault(start, []).append(window)
                open_starts.add(start)
        merged = []
        for start in sorted(by_start)[-RECENT_WINDOWS:]:
            total = merge_all(by_start[start])
            if total is not None:
                merged.append((start, total, start not in open_starts))
        return merged


def _copy(window: WindowAggregate, products: bool = False) -> WindowAggregate:
    copy = WindowAggregate.from_core_json(window.core_json())
    if products:
        copy.product_orders = dict(window.product_orders)
    return copy


def _window_json(window: WindowAggregate, closed: bool) -> dict[str, Any]:
    return {
        "start": window.start_ms,
        "end": window.end_ms,
        "orders": window.orders,
        "reserved": window.reserved,
        "rejected": window.rejected,
        "revenueCents": window.revenue_cents,
        "p50Ms": round(window.latency.percentile(0.5), 1),
        "p99Ms": round(window.latency.percentile(0.99), 1),
        "closed": closed,
    }


# the alert fields the dashboard shows, named as in its Avro record (OrderAlert.avsc)
_ALERT_KEYS = (
    "orderId", "customerId", "productId", "category", "quantity", "amountCents", "score",
    "reason", "detectedAt",
)  # fmt: skip


def _alert_json(alert: OrderAlert) -> dict[str, Any]:
    record = to_record(alert)
    return {key: record[key] for key in _ALERT_KEYS}
