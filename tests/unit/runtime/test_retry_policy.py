"""The producer's retry policy agrees with the /healthz stall limit; errors are classed by
the recovery they need."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from orderstream.errors import TaskMigrated, TransactionAborted
from orderstream.kafka.errors import BrokerUnavailable, OutputTooLarge, translate_txn_error
from orderstream.kafka.producer import QUEUE_FULL_WAIT_S, RETRY_BUDGET_S, RETRY_POLICY
from orderstream.runtime.loop import STALL_LIMIT_S


def test_every_retry_budget_fits_under_the_stall_limit() -> None:
    assert set(RETRY_POLICY) == {
        "init_transactions",
        "send_offsets_to_transaction",
        "commit_transaction",
        "abort_transaction",
    }
    for call, policy in RETRY_POLICY.items():
        assert policy.budget_s <= RETRY_BUDGET_S, call
    assert QUEUE_FULL_WAIT_S <= RETRY_BUDGET_S < STALL_LIMIT_S


def test_an_unknown_commit_is_never_retried_into_an_abort() -> None:
    assert RETRY_POLICY["commit_transaction"].exhausted is TaskMigrated
    assert RETRY_POLICY["send_offsets_to_transaction"].exhausted is TransactionAborted


def _exc(code: int, **flags: bool) -> KafkaException:
    return KafkaException(KafkaError(code, "x", **flags))


def test_errors_are_classed_by_recovery() -> None:
    too_large = translate_txn_error(_exc(KafkaError.MSG_SIZE_TOO_LARGE), "produce")
    assert isinstance(too_large, OutputTooLarge)
    down = translate_txn_error(_exc(KafkaError._TRANSPORT, retriable=True), "commit")
    assert isinstance(down, BrokerUnavailable)
    assert isinstance(down, TaskMigrated)  # a rebuild, after a backoff
    fenced = translate_txn_error(_exc(KafkaError._FENCED, fatal=True), "commit")
    assert isinstance(fenced, TaskMigrated) and not isinstance(fenced, BrokerUnavailable)
