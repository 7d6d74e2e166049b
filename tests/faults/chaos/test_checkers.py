"""The checkers judge synthetic histories: each one fails on the anomaly it exists to catch."""

from __future__ import annotations

from orderstream.chaos.checkers import (
    check_monotonic,
    check_no_aborted_reads,
    check_no_duplicates,
    check_no_lost_writes,
    check_orders_repeats,
)
from orderstream.chaos.reads import Seen, TopicRange
from orderstream.chaos.watch import WatchLog, digest


def _range(*records: tuple[int, int, bytes, bytes]) -> TopicRange:
    return TopicRange([Seen(p, o, k, digest(v)) for p, o, k, v in records], [])


def test_lost_write_is_an_acknowledged_order_missing_from_orders() -> None:
    orders = _range((0, 0, b"s-1", b"a"))
    assert check_no_lost_writes({b"s-1"}, orders).ok
    assert not check_no_lost_writes({b"s-1", b"s-2"}, orders).ok


def test_duplicate_is_an_order_enriched_twice_and_a_repeat_must_be_exact() -> None:
    once = _range((0, 0, b"s-1", b"x"), (1, 0, b"s-2", b"y"))
    twice = _range((0, 0, b"s-1", b"x"), (0, 1, b"s-1", b"x"))
    assert check_no_duplicates(b"s-", once).ok
    assert not check_no_duplicates(b"s-", twice).ok
    assert check_no_duplicates(b"other-", twice).ok  # other scenarios' keys are ignored
    exact = check_orders_repeats(b"s-", {b"s-1"}, twice)
    assert exact.ok and "1 orderIds written twice" in exact.detail
    conflicting = _range((0, 0, b"s-1", b"x"), (0, 1, b"s-1", b"z"))
    assert not check_orders_repeats(b"s-", set(), conflicting).ok


def test_aborted_read_is_a_live_record_missing_from_the_committed_log() -> None:
    committed = _range((0, 0, b"k", b"v"))
    uncommitted = _range((0, 0, b"k", b"v"), (0, 1, b"k", b"aborted"))
    live = WatchLog(seen={(0, 0): digest(b"v")})
    assert check_no_aborted_reads(live, committed, uncommitted).ok
    live.seen[(0, 1)] = digest(b"aborted")
    assert not check_no_aborted_reads(live, committed, uncommitted).ok
    changed = WatchLog(seen={(0, 0): digest(b"other bytes")})
    assert not check_no_aborted_reads(changed, committed, uncommitted).ok


def test_offsets_going_back_anywhere_fail_monotonicity() -> None:
    assert check_monotonic(WatchLog(), [_range()], []).ok
    assert not check_monotonic(WatchLog(backwards=["t-0: 3 after 5"]), [], []).ok
    assert not check_monotonic(WatchLog(), [], ["group g t-0: 1 after 2"]).ok
