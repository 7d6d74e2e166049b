"""``bench pipeline --json``: the keys other tools read, and the shape of the new figures."""

from __future__ import annotations

import json

from orderstream.bench.pipeline import PipelineFigures, RunPlan
from orderstream.bench.search import Search, Step

KEPT_KEYS = {  # what the earlier bench printed: scripts read these
    "ceiling_rps", "enrichment_orders", "enrichment_eos_orders_per_s", "enrichment_wall_s",
    "e2e_latency_ms", "api_single_orders_per_s", "api_batch_orders_per_s", "api_batch_size",
    "latency_commit_interval_ms", "enrichment_outcomes", "stage1_without_store_orders_per_s",
    "stage1_with_store_orders_per_s", "stage1_store_cost_us_per_order",
}  # fmt: skip
ADDED_KEYS = {
    "analytics_eos_events_per_s", "sustainable_orders_per_s", "latency_ms", "instances",
    "latency_offered_per_s", "sustainable_criterion", "sustainable_steps", "throughput_series",
}  # fmt: skip


def _figures() -> PipelineFigures:
    f = PipelineFigures(RunPlan.quick())
    f.drain.orders, f.drain.rps, f.drain.outcomes = 20_000, 15_000.0, {"RESERVED": 20_000}
    f.drain.series = [[0.0, 14_000.0], [1.0, 16_000.0]]
    f.instances = {"enrichment": {"1": 15_000, "2": 21_000}, "analytics": {"1": 9_000, "2": 12_000}}
    f.latency_s = {1_000: [i / 1000 for i in range(1, 1001)], 5_000: []}
    f.offered_rps = {1_000: 998, 5_000: 4_990}
    kept = Step(2_000, 1_990.0, {"enrichment": [10, 12, 9, 11]}, 420.0)
    f.sustainable = Search([kept, Step(5_000, 4_900.0, {"enrichment": [0, 9_000]}, 3_000.0)], 2_000)
    return f


def test_keeps_every_earlier_key_and_adds_the_issues_figures() -> None:
    shown = _figures().as_json()

    assert set(shown) == KEPT_KEYS | ADDED_KEYS
    json.dumps(shown, allow_nan=False)  # strict JSON: null, never NaN


def test_latency_ms_per_rate_has_the_omb_percentiles() -> None:
    shown = _figures().as_json()

    assert shown["latency_ms"] == {
        "1000": {"p50": 500.0, "p95": 950.0, "p99": 990.0, "p999": 999.0, "max": 1000.0},
        "5000": {"p50": None, "p95": None, "p99": None, "p999": None, "max": None},
    }
    assert shown["latency_offered_per_s"] == {"1000": 998, "5000": 4_990}
    assert shown["e2e_latency_ms"]["1000"] == {"p50": 500.0, "p99": 990.0, "max": 1000.0,
                                               "offered": 998}  # fmt: skip


def test_sustainable_instances_and_analytics_figures() -> None:
    shown = _figures().as_json()

    assert shown["sustainable_orders_per_s"] == 2_000
    assert [s["kept_up"] for s in shown["sustainable_steps"]] == [True, False]  # type: ignore[union-attr]
    assert shown["instances"] == {
        "enrichment": {"1": 15_000, "2": 21_000},
        "analytics": {"1": 9_000, "2": 12_000},
    }
    assert shown["analytics_eos_events_per_s"] == 9_000
    assert shown["throughput_series"] == [[0.0, 14_000.0], [1.0, 16_000.0]]
