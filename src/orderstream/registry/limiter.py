"""A limiter on failed logins: scrypt is slow on purpose, so guesses must be rationed.

Token buckets keyed by client address and by (user, address). Every password check that must
run scrypt takes a token from both *before* it runs (so concurrent guesses cannot all slip
through one check); an empty bucket answers 429 with Retry-After and no scrypt runs. Known
passwords never reach the limiter (they hit the cache of verified or refused credentials), so
a client guessing passwords cannot lock out services that log in correctly, only slow down its
own guesses.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from orderstream.registry.errors import logins_throttled


@dataclass(frozen=True)
class Budget:
    """``burst`` failures at once, then one more every ``1 / per_second`` seconds."""

    burst: float
    per_second: float


USER_BUDGET = Budget(burst=5, per_second=1.0)  # one guess a second per user and address
ADDRESS_BUDGET = Budget(burst=20, per_second=5.0)  # spraying many user names from one address
MAX_BUCKETS = 10_000  # bounded memory: full buckets are dropped first, then the oldest


class _Buckets:
    """Token buckets under one budget; ``tokens`` refill lazily on each look-up."""

    def __init__(self, budget: Budget, clock: Callable[[], float]) -> None:
        self.budget = budget
        self.clock = clock
        self._state: dict[object, tuple[float, float]] = {}  # key -> (tokens, at)

    def wait_s(self, key: object) -> float:
        """Seconds until ``key`` may fail once more (0 when it may now)."""
        tokens = self._tokens(key)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.budget.per_second

    def take(self, key: object) -> None:
        self._state[key] = (self._tokens(key) - 1, self.clock())
        if len(self._state) > MAX_BUCKETS:
            self._prune()

    def _tokens(self, key: object) -> float:
        tokens, at = self._state.get(key, (self.budget.burst, self.clock()))
        return min(self.budget.burst, tokens + (self.clock() - at) * self.budget.per_second)

    def _prune(self) -> None:
        full = [k for k in self._state if self._tokens(k) >= self.budget.burst]
        for key in full or list(self._state)[: len(self._state) - MAX_BUCKETS]:
            del self._state[key]


class LoginLimiter:
    """``acquire`` before each scrypt run."""

    def __init__(
        self,
        user_budget: Budget = USER_BUDGET,
        address_budget: Budget = ADDRESS_BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = _Buckets(user_budget, clock)
        self._addresses = _Buckets(address_budget, clock)
        self._lock = threading.Lock()

    def acquire(self, user: str, address: str) -> None:
        """Take a token of both buckets, or RegistryError 429 (with ``retry_after_s``)."""
        with self._lock:
            wait = max(self._users.wait_s((user, address)), self._addresses.wait_s(address))
            if wait <= 0:
                self._users.take((user, address))
                self._addresses.take(address)
                return
        raise logins_throttled(user, math.ceil(wait))
