"""The sustainable-rate search on fake measurements: the ladder, the bisection, the criterion."""

from __future__ import annotations

from orderstream.bench.search import Step, find_sustainable, lag_bounded


def _pipeline_that_serves(capacity: int, close_p99_ms: float = 200.0) -> tuple[list[int], object]:
    """A fake measurement: lag grows by the excess of offered over ``capacity`` each sample."""
    tried: list[int] = []

    def measure(rate: int) -> Step:
        tried.append(rate)
        excess = max(rate - capacity, 0)
        samples = [100 + excess * i for i in range(10)]  # one sample a second
        return Step(rate, rate, {"enrichment": samples, "analytics": [50] * 10}, close_p99_ms)

    return tried, measure


def test_climbs_the_ladder_then_bisects_to_the_resolution() -> None:
    tried, measure = _pipeline_that_serves(capacity=12_300)

    search = find_sustainable(
        measure, ladder=(2_000, 5_000, 10_000, 15_000, 20_000), resolution=1_000
    )

    assert tried[:4] == [2_000, 5_000, 10_000, 15_000]  # stops climbing at the first failure
    assert 20_000 not in tried
    # within the resolution below, or the criterion's tolerance (5 % of input over 10 s) above
    assert 12_300 - 1_000 <= search.sustainable <= 12_300 * 1.06
    assert [s.rate for s in search.steps] == tried
    assert all(s.rate > 12_300 for s in search.steps if not s.kept_up)
    assert all(s.rate <= 12_300 * 1.06 for s in search.steps if s.kept_up)


def test_a_close_p99_over_one_second_fails_the_step_even_with_bounded_lag() -> None:
    tried, measure = _pipeline_that_serves(capacity=100_000, close_p99_ms=1_400.0)

    search = find_sustainable(measure, ladder=(2_000, 5_000), resolution=500)

    assert search.sustainable == 0
    assert tried[0] == 2_000 and 5_000 not in tried


def test_no_closed_window_is_not_keeping_up() -> None:
    step = Step(1_000, 1_000.0, {"enrichment": [0, 0, 0]}, None)

    assert not step.kept_up


def test_the_whole_ladder_keeping_up_reports_its_top() -> None:
    tried, measure = _pipeline_that_serves(capacity=1_000_000)

    search = find_sustainable(measure, ladder=(2_000, 5_000, 10_000))

    assert search.sustainable == 10_000
    assert tried == [2_000, 5_000, 10_000]


def test_lag_that_comes_and_goes_is_bounded_lag_that_grows_is_not() -> None:
    assert lag_bounded([0, 900, 100, 1_000, 50, 950, 0, 800], rate=2_000)
    assert not lag_bounded([0, 2_000, 4_000, 6_000, 8_000, 10_000], rate=2_000)
    assert lag_bounded([5], rate=2_000)


def test_step_json_names_the_criterion_per_group() -> None:
    _tried, measure = _pipeline_that_serves(capacity=3_000)

    shown = measure(5_000).as_json()

    assert shown["kept_up"] is False
    assert shown["lag_bounded"] == {"enrichment": False, "analytics": True}
    assert shown["final_lag"] == {"enrichment": 100 + 2_000 * 9, "analytics": 50}
    assert set(shown) == {"rate", "achieved", "close_p99_ms", "lag_bounded", "final_lag", "kept_up"}
