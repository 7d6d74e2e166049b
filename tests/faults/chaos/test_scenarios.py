"""Every chaos scenario on 3 nodes, about 30 s of HTTP load each, every service running.

Each test runs its fault under load, then the Jepsen-style checkers (no lost write, DESIGN.md's
invariants through the audit, no duplicate, no aborted read, monotonic offsets, no hanging
transaction, every service recovered by itself) and the scenario's own proof that its fault
landed. A failure lists every check that failed, with its detail.
"""

from __future__ import annotations

import json

import pytest

from orderstream.chaos.env import ChaosEnv
from orderstream.chaos.report import as_json, problems
from orderstream.chaos.runner import run_scenario
from orderstream.chaos.scenarios import GROUP, SCENARIOS, scenario

pytestmark = pytest.mark.faults

LOAD_S = 30.0
RATE = 100.0


def test_coordinators_found_by_hash_are_the_ones_kafka_names(chaos_env: ChaosEnv) -> None:
    cluster = chaos_env.cluster
    for group in (GROUP, "analytics"):
        assert cluster.group_coordinator(group) == cluster.described_group_coordinator(group)


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_scenario_keeps_every_promise(chaos_env: ChaosEnv, name: str) -> None:
    result = run_scenario(chaos_env, scenario(name), LOAD_S, RATE)
    print(json.dumps(as_json(result)))  # the measures, shown by pytest -rA
    assert result.ok, "\n".join(problems([result]))
    assert result.faults.faults, "no fault was injected"
    # window_s is set only when, after every fault, an order acknowledged later came out committed
    assert result.accepted > 0 and result.window_s is not None and result.recovery_s is not None
