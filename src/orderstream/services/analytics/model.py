"""The online anomaly model: river's HalfSpaceTrees over the shape of each order.

Why HalfSpaceTrees: it learns online in constant memory, needs no labels, scores in O(trees x
height), and its state pickles into one small value that the transactional store snapshots. The
features are log-scaled (amount, quantity, unit price), so "ten times the usual basket" is the
same distance whatever the price level. A per-customer statistic would need state per customer
and says nothing about a first order; the trees flag a strange order from anyone.

The score is in [0, 1]; 0 during the first ``window_size`` orders (the trees have no mass yet).
The reason names the feature furthest from its running mean, in standard deviations.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from typing import Any

from river import anomaly, stats

from orderstream.services.analytics.windows import OrderFacts

# Feature ranges for the random splits: log10 of cents and units (up to 10^8 cents, 10^3 units).
_LIMITS = {"amount": (0.0, 8.0), "quantity": (0.0, 3.0), "unit_price": (0.0, 8.0)}
_LABELS = {"amount": "amountCents", "quantity": "quantity", "unit_price": "unit price (cents)"}


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters; the seed makes scoring reproducible."""

    seed: int = 42
    n_trees: int = 10
    height: int = 6
    window_size: int = 250
    threshold: float = 0.9


@dataclass(frozen=True)
class Verdict:
    """The model's judgement of one order."""

    score: float
    reason: str
    is_anomaly: bool


def order_features(order: OrderFacts) -> dict[str, float]:
    quantity = max(order.quantity, 1)
    amount = max(order.amount_cents, 0)
    return {
        "amount": math.log10(amount + 1),
        "quantity": math.log10(quantity + 1),
        "unit_price": math.log10(amount / quantity + 1),
    }


class AnomalyModel:
    """Scores each order, then learns from it (test-then-train)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config or ModelConfig()
        # river's scoring methods are untyped; the model is used through this class only.
        trees_class: Any = anomaly.HalfSpaceTrees
        self._trees: Any = trees_class(
            n_trees=self.config.n_trees,
            height=self.config.height,
            window_size=self.config.window_size,
            limits=dict(_LIMITS),
            seed=self.config.seed,
        )
        self._spread = {name: stats.Var() for name in _LIMITS}
        self.seen = 0

    def observe(self, order: OrderFacts) -> Verdict:
        """Score the order against what was seen so far, then learn it."""
        features = order_features(order)
        score = float(self._trees.score_one(features))
        flagged = score >= self.config.threshold
        reason = self._reason(features, order) if flagged else ""  # only alerts need words
        self._trees.learn_one(features)
        for name, value in features.items():
            self._spread[name].update(value)
        self.seen += 1
        return Verdict(score, reason, flagged)

    def _reason(self, features: dict[str, float], order: OrderFacts) -> str:
        """The feature furthest from its running mean, in plain words."""
        best, best_z = "amount", 0.0
        for name, value in features.items():
            var = self._spread[name]
            sd = math.sqrt(var.get()) if var.mean.n > 1 else 0.0
            z = (value - var.mean.get()) / sd if sd > 0 else 0.0
            if abs(z) > abs(best_z):
                best, best_z = name, z
        typical = 10 ** self._spread[best].mean.get() - 1 if self._spread[best].mean.n else 0.0
        actual = {
            "amount": order.amount_cents,
            "quantity": order.quantity,
            "unit_price": order.amount_cents // max(order.quantity, 1),
        }[best]
        direction = "above" if best_z >= 0 else "below"
        return (
            f"{_LABELS[best]} {actual:,} is {abs(best_z):.1f} sd {direction} "
            f"the typical {typical:,.0f}"
        )

    def to_bytes(self) -> bytes:
        """A snapshot for the state store (pickle: river's own persistence format)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def from_bytes(data: bytes) -> AnomalyModel:
        """Restore a snapshot written by :meth:`to_bytes` (only ever from our own changelog)."""
        model = pickle.loads(data)
        if not isinstance(model, AnomalyModel):
            raise TypeError(f"model snapshot holds {type(model).__name__}, not AnomalyModel")
        return model
