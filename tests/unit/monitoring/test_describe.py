"""Flagging in `orderstream topics describe`: under-replicated is ISR smaller than the replica
set, offline is no leader."""

from __future__ import annotations

from orderstream.platform.describe import PartitionState, summary


def test_full_isr_is_ok() -> None:
    state = PartitionState("orders", 0, 1, (1, 2, 3), (3, 1, 2))
    assert (state.status, state.under_replicated, state.offline) == ("ok", False, False)


def test_a_missing_follower_is_under_replicated() -> None:
    state = PartitionState("orders", 1, 2, (1, 2, 3), (2, 3))
    assert state.status == "under-replicated"
    assert state.as_json() == {
        "topic": "orders",
        "partition": 1,
        "leader": 2,
        "replicas": [1, 2, 3],
        "isr": [2, 3],
        "under_replicated": True,
        "offline": False,
    }


def test_no_leader_is_offline_and_the_summary_counts_both() -> None:
    states = [
        PartitionState("orders", 0, -1, (1,), ()),
        PartitionState("orders", 1, 2, (1, 2), (2,)),
        PartitionState("stats", 0, 1, (1,), (1,)),
    ]
    assert states[0].status == "offline"
    assert summary(states) == "3 partition(s) in 2 topic(s): 2 under-replicated, 1 offline"
    assert summary(states[2:]) == "1 partition(s) in 1 topic(s): 0 under-replicated"
