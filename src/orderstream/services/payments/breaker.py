"""A circuit breaker on the payment provider (Resilience4j's three states).

    CLOSED    --failure_threshold failures or timeouts in a row-->  OPEN
    OPEN      --open_ms passed-->                                   HALF_OPEN (one probe call)
    HALF_OPEN --the probe answered-->  CLOSED;  --the probe failed-->  OPEN again

A declined payment is an answer, so it counts as a success: only calls the provider did not
answer (unavailable, timed out) open the circuit. While it is not CLOSED, orders wait in the
pending store; they are neither failed nor lost. Only the processing thread uses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import IntEnum

logger = logging.getLogger(__name__)


class BreakerState(IntEnum):
    """The values of the ``orderstream_payments_circuit_state`` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        open_ms: int = 5_000,
        clock_ms: Callable[[], float] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        self.failure_threshold = failure_threshold
        self.open_ms = open_ms
        self._clock = clock_ms or (lambda: time.monotonic() * 1000)
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.opened = 0  # times it opened

    def allow(self) -> bool:
        """May a call start now? In HALF_OPEN, only one probe at a time."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.open_ms:
                return False
            self._set(BreakerState.HALF_OPEN, "probing the provider")
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        if self.state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED, "the provider answered")

    def record_failure(self, reason: str) -> None:
        self._failures += 1
        self._probing = False
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._opened_at = self._clock()
            self.opened += 1
            self._set(BreakerState.OPEN, reason)

    def _set(self, state: BreakerState, reason: str) -> None:
        self.state = state
        log = logger.warning if state is BreakerState.OPEN else logger.info
        log(
            f"payment circuit {state.name}",
            extra={"reason": reason, "failures": self._failures, "open_ms": self.open_ms},
        )
