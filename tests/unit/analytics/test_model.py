from __future__ import annotations

import random

from tests.unit.analytics.factories import order

from orderstream.services.analytics.model import AnomalyModel, ModelConfig
from orderstream.services.analytics.windows import OrderFacts

PRICES = [499, 1_299, 2_599, 4_999, 9_999]


def _normal_orders(n: int, seed: int) -> list[OrderFacts]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        quantity = rng.randint(1, 5)
        out.append(order(i, quantity=quantity, amount=quantity * rng.choice(PRICES)))
    return out


def test_scoring_is_deterministic_for_a_fixed_seed() -> None:
    orders = _normal_orders(1_500, seed=1)
    a, b = AnomalyModel(ModelConfig(seed=7)), AnomalyModel(ModelConfig(seed=7))
    assert [a.observe(o).score for o in orders] == [b.observe(o).score for o in orders]


def test_planted_outliers_are_flagged_and_normal_orders_are_not() -> None:
    model = AnomalyModel()
    for o in _normal_orders(2_000, seed=2):
        model.observe(o)
    planted = [
        order(1, quantity=400, amount=400 * 2_599),  # a huge basket
        order(2, quantity=1, amount=25_000_000),  # an absurd unit price
        order(3, quantity=2, amount=4),  # near-free
    ]
    verdicts = [model.observe(o) for o in planted]
    assert all(v.is_anomaly for v in verdicts), [v.score for v in verdicts]
    assert "quantity" in verdicts[0].reason
    assert "above" in verdicts[1].reason
    false_alarms = sum(model.observe(o).is_anomaly for o in _normal_orders(2_000, seed=3))
    assert false_alarms <= 20  # at most 1%


def test_model_state_survives_a_snapshot() -> None:
    orders = _normal_orders(1_000, seed=4)
    live = AnomalyModel()
    for o in orders[:600]:
        live.observe(o)
    restored = AnomalyModel.from_bytes(live.to_bytes())
    assert restored.seen == 600
    rest = orders[600:]
    assert [live.observe(o).score for o in rest] == [restored.observe(o).score for o in rest]


def test_no_alert_while_the_trees_are_still_empty() -> None:
    model = AnomalyModel(ModelConfig(window_size=50))
    assert model.observe(order(1, amount=99_999_999)).score == 0.0
