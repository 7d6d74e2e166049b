"""TopicTable's error policy (no broker): refused and unknown topics become clear errors."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from orderstream.errors import ConfigError, TransientError
from orderstream.kafka.errors import TopicAccessDenied, TopicMissing, read_failure


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, "grant it READ and DESCRIBE on topic products"),
        (KafkaError.GROUP_AUTHORIZATION_FAILED, "READ on the reader's consumer group"),
        (KafkaError._AUTHENTICATION, "check security.username and security.password_file"),
    ],
)
def test_a_refusal_names_the_topic_the_principal_and_the_fix(code: int, fix: str) -> None:
    failure = read_failure(KafkaError(code), "products", "enrichment", 0.0, 30.0)
    assert isinstance(failure, TopicAccessDenied)
    assert "User:enrichment" in str(failure)
    assert "products" in str(failure)
    assert fix in str(failure)
    # Fix the ACL and start again; a processing loop retries rather than dead-letters.
    assert isinstance(failure, ConfigError)
    assert isinstance(failure, TransientError)


def test_a_refusal_without_a_sasl_user_still_says_whose() -> None:
    failure = read_failure(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), "t", None, 0, 30)
    assert "this client's principal" in str(failure)


@pytest.mark.parametrize(
    "code",
    [KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION],
)
def test_an_unknown_topic_is_an_error_only_after_the_bounded_wait(code: int) -> None:
    assert read_failure(KafkaError(code), "orders", None, 29.0, 30.0) is None
    failure = read_failure(KafkaError(code), "orders", None, 31.0, 30.0)
    assert isinstance(failure, TopicMissing)
    assert "topic orders does not exist" in str(failure)
    assert "orderstream topics apply" in str(failure)


def test_other_errors_are_read_past() -> None:
    for code in (KafkaError._TRANSPORT, KafkaError.NOT_LEADER_FOR_PARTITION):
        assert read_failure(KafkaError(code), "orders", None, 999.0, 30.0) is None


def test_the_orders_api_is_not_ready_and_says_why_when_its_view_stopped() -> None:
    import asyncio
    import json
    import threading
    from types import SimpleNamespace

    from orderstream.services.orders.app import OrdersApi

    assigned = threading.Event()
    view = SimpleNamespace(failure=None, assigned=assigned)
    api = OrdersApi()
    api.parts = SimpleNamespace(  # type: ignore[assignment]
        view=view, publisher=SimpleNamespace(circuit=SimpleNamespace(reason=None))
    )
    assigned.set()
    ready = asyncio.run(api.readyz(None))  # type: ignore[arg-type]
    assert ready.status_code == 200
    assert "view_error" not in json.loads(bytes(ready.body))
    view.failure = read_failure(
        KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), "enriched-orders", "orders", 0, 30
    )
    stopped = asyncio.run(api.readyz(None))  # type: ignore[arg-type]
    body = json.loads(bytes(stopped.body))
    assert stopped.status_code == 503
    assert (body["ready"], body["view"]) == (False, False)
    assert "User:orders reading enriched-orders" in body["view_error"]
