"""The fast model against river's HalfSpaceTrees: the same scores, so the same precision/recall."""

from __future__ import annotations

import random
from typing import Any

from river import anomaly
from tests.unit.analytics.factories import order

from orderstream.services.analytics.model import (
    _LIMITS,
    AnomalyModel,
    ModelConfig,
    order_features,
)
from orderstream.services.analytics.windows import OrderFacts

PRICES = [499, 1_299, 2_599, 4_999, 9_999, 24_999]


def _stream(n: int, seed: int) -> tuple[list[OrderFacts], set[int]]:
    """Catalogue orders with 1% planted outliers (huge basket, absurd or near-free price)."""
    rng = random.Random(seed)
    orders, planted = [], set()
    for i in range(n):
        quantity = rng.randint(1, 5)
        amount = quantity * rng.choice(PRICES)
        if i > 500 and rng.random() < 0.01:
            planted.add(i)
            quantity, amount = rng.choice(
                [(400, 400 * 2_599), (1, 25_000_000 + i), (2, 3), (150, 150 * 9_999)]
            )
        orders.append(order(i, quantity=quantity, amount=amount))
    return orders, planted


def _river_scores(config: ModelConfig, orders: list[OrderFacts]) -> list[float]:
    """The model of earlier releases: river's HalfSpaceTrees, score then learn."""
    trees: Any = anomaly.HalfSpaceTrees(
        n_trees=config.n_trees,
        height=config.height,
        window_size=config.window_size,
        limits=dict(_LIMITS),
        seed=config.seed,
    )
    scores = []
    for o in orders:
        x = order_features(o)
        scores.append(float(trees.score_one(x)))
        trees.learn_one(x)
    return scores


def _precision_recall(flagged: set[int], planted: set[int]) -> tuple[float, float]:
    hits = len(flagged & planted)
    return hits / max(len(flagged), 1), hits / len(planted)


def test_same_scores_and_quality_as_river_on_planted_outliers() -> None:
    orders, planted = _stream(4_000, seed=5)
    for config in (ModelConfig(), ModelConfig(seed=3, window_size=100, height=5)):
        model = AnomalyModel(config)
        verdicts = [model.observe(o) for o in orders]
        river_scores = _river_scores(config, orders)
        assert [v.score for v in verdicts] == river_scores
        ours = {i for i, v in enumerate(verdicts) if v.is_anomaly}
        theirs = {i for i, s in enumerate(river_scores) if s >= config.threshold}
        assert ours == theirs
        precision, recall = _precision_recall(ours, planted)
        assert precision >= 0.6 and recall >= 0.6, (precision, recall)


def test_scores_survive_a_snapshot_mid_window() -> None:
    orders, _ = _stream(1_500, seed=6)
    live = AnomalyModel()
    for o in orders[:777]:
        live.observe(o)
    restored = AnomalyModel.from_bytes(live.to_bytes())
    rest = orders[777:]
    assert [live.observe(o).score for o in rest] == [restored.observe(o).score for o in rest]


def test_a_snapshot_of_the_river_model_starts_a_fresh_model() -> None:
    old = AnomalyModel.__new__(AnomalyModel)
    old.__setstate__({"config": ModelConfig(seed=9), "seen": 1_234, "_trees": None})
    assert old.seen == 0 and old.config.seed == 9
    assert old.observe(order(1, amount=5_000)).score == 0.0
