"""ORDERSTREAM_PREFIX: every name of a pipeline copy takes it, "" changes nothing, bad ones fail."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Executor
from typing import Any, cast

import pytest

from orderstream.config import Settings, load_settings
from orderstream.errors import ConfigError
from orderstream.naming import check_prefix
from orderstream.platform.acls import Grant, declared_grants, load_principals, make_plan
from orderstream.platform.acls_prefix import SHARED_PRINCIPALS, for_prefix, other_copies
from orderstream.platform.topology import SHARED_TOPICS, default_topology_path, load_topology
from orderstream.runtime import RuntimeConfig
from orderstream.serde.serde import subject_for
from orderstream.services.analytics.events import AnalyticsTopics
from orderstream.services.enrichment.processor import EnrichmentTopics
from orderstream.services.payments.processor import PaymentsProcessor

PREFIX = "blue."


def _topics(prefix: str) -> list[str]:
    return [t.name for t in load_topology(default_topology_path(), 1, prefix)]


def test_every_topic_the_topology_declares_takes_the_prefix() -> None:
    bare = _topics("")
    assert _topics(PREFIX) == [t if t in SHARED_TOPICS else PREFIX + t for t in bare]
    assert "_schemas" in bare  # the registry's topic: shared, never prefixed


def test_empty_prefix_changes_no_name() -> None:
    assert _topics("") == [t.name for t in load_topology(default_topology_path(), 1)]
    assert Settings().prefix == ""
    assert Settings().named("orders") == "orders"
    assert EnrichmentTopics().for_prefix("") == EnrichmentTopics()
    config = RuntimeConfig(app_id="enrichment", instance_id="0")
    assert config.for_prefix("") == config
    assert subject_for("orders", "OrderCreated", "") == "orders-value"
    principals = load_principals(default_topology_path())
    assert for_prefix(principals, "") == principals


def test_every_topic_a_service_uses_is_a_prefixed_topology_topic() -> None:
    declared = set(_topics(PREFIX))
    enrichment = EnrichmentTopics().for_prefix(PREFIX)
    payments = PaymentsProcessor(
        cast(Any, None), cast(Any, None), cast(Executor, None), prefix=PREFIX
    )
    used = {
        *vars(enrichment).values(),
        *AnalyticsTopics(PREFIX).all(),
        *payments.input_topics,
        *(s.changelog_topic for s in payments.stores),
    }
    assert all(t.startswith(PREFIX) for t in used)
    assert used <= declared, sorted(used - declared)


def test_groups_transactional_ids_and_subjects_follow_the_prefix() -> None:
    config = RuntimeConfig(app_id="enrichment", instance_id="3").for_prefix(PREFIX)
    assert config.app_id == "blue.enrichment"  # the consumer group (restore: -restore)
    assert config.transactional_id == "blue.enrichment-3"
    # TopicNameStrategy on the copy's topic; a second record type under its full name
    assert subject_for("blue.orders", "OrderCreated", PREFIX) == "blue.orders-value"
    assert (
        subject_for("blue.orders-by-product", "InventoryAdjusted", PREFIX)
        == "blue.orderstream.events.InventoryAdjusted"
    )


@pytest.mark.parametrize(
    "prefix", ["blue.", "team_a-", "A1", "x" * 200, "payments-v2."], ids=lambda p: p[:12]
)
def test_a_prefix_of_kafka_topic_characters_is_accepted(prefix: str) -> None:
    assert check_prefix(prefix) == prefix
    assert Settings(prefix=prefix).named("orders") == prefix + "orders"


@pytest.mark.parametrize("prefix", ["blue/", "a b", "ü-", "x:y", "x" * 201])
def test_a_bad_prefix_is_a_clear_config_error(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSTREAM_PREFIX", prefix)
    with pytest.raises(ConfigError, match="prefix") as info:
        load_settings()
    assert "invalid settings" in str(info.value)


def test_the_cli_names_a_bad_prefix_without_a_traceback() -> None:
    env = {**os.environ, "ORDERSTREAM_PREFIX": "blue team"}
    done = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "topics", "apply", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    said = " ".join(done.stderr.split())  # the console wraps long lines
    assert "prefix 'blue team' has characters Kafka refuses in topic names (' ')" in said
    assert "Traceback" not in done.stderr


def test_acl_grants_of_a_copy_are_on_its_names() -> None:
    principals = load_principals(default_topology_path())
    blue = for_prefix(principals, PREFIX)
    for name, p in blue.items():
        for grant in p.grants:
            shared = name in SHARED_PRINCIPALS or grant.name in ("*", *SHARED_TOPICS)
            assert shared or grant.name.startswith(PREFIX), grant
    enrichment = {g.resource for g in blue["enrichment"].grants}
    assert {"topic:blue.orders", "group:blue.enrichment", "transactional_id:blue.enrichment-*"} <= (
        enrichment
    )
    assert blue["registry"] == principals["registry"]


def test_one_copys_acl_plan_neither_keeps_nor_revokes_anothers_grants() -> None:
    principals = load_principals(default_topology_path())
    base = declared_grants(principals)
    default, blue = base, declared_grants(for_prefix(principals, PREFIX))
    rogue = Grant("orders", "TOPIC", "secret", False, "READ")
    current = default | blue | {rogue}
    for prefix, mine in (("", default), (PREFIX, blue)):
        others = other_copies(base, current, prefix) - mine
        plan = make_plan(mine, current - others, [])
        assert plan.create == []
        assert plan.revoke == [rogue]  # undeclared by any copy: revoked, as without a prefix
