"""The runtime's public API and the producer's error classification."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

import orderstream.runtime as runtime
from orderstream.errors import TaskMigrated, TransactionAborted
from orderstream.kafka.errors import translate_txn_error
from orderstream.runtime import Processor, RuntimeConfig
from orderstream.testing.aggregate import AggregateProcessor


def test_exported_names() -> None:
    assert sorted(runtime.__all__) == [
        "H_ERROR_CLASS",
        "H_ERROR_MESSAGE",
        "H_SOURCE_OFFSET",
        "H_SOURCE_PARTITION",
        "H_SOURCE_TOPIC",
        "KeyValueStore",
        "ProcessingLoop",
        "Processor",
        "ProcessorContext",
        "PunctuateContext",
        "Punctuator",
        "Record",
        "RuntimeConfig",
        "StoreSpec",
        "dlq_topic",
        "run_processor",
    ]
    assert all(hasattr(runtime, name) for name in runtime.__all__)


def test_config_derives_the_transactional_id() -> None:
    config = RuntimeConfig(app_id="enrichment", instance_id="a")
    assert config.transactional_id == "enrichment-a"
    assert config.exactly_once
    assert config.commit_interval_ms == 100


def test_the_verification_processor_satisfies_the_protocol() -> None:
    assert isinstance(AggregateProcessor("i", "o", "c"), Processor)


def test_abortable_errors_become_transaction_aborted() -> None:
    err = KafkaError(KafkaError._STATE, "must abort", txn_requires_abort=True)
    assert isinstance(translate_txn_error(KafkaException(err), "commit"), TransactionAborted)


def test_fatal_and_fencing_errors_become_task_migrated() -> None:
    fenced = KafkaError(KafkaError._FENCED, "fenced", fatal=True)
    assert isinstance(translate_txn_error(KafkaException(fenced), "commit"), TaskMigrated)
    unclassified = KafkaError(KafkaError._FAIL, "unknown")
    assert isinstance(translate_txn_error(KafkaException(unclassified), "commit"), TaskMigrated)


class _Message:
    """Stands in for a confluent_kafka Message (same accessor methods)."""

    def topic(self) -> str:
        return "orders"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes:
        return b"o1"

    def value(self) -> bytes:
        return b"payload"

    def headers(self) -> list[tuple[str, bytes]]:
        return [("trace", b"x")]

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)


def test_a_consumed_record_behaves_like_a_plain_record() -> None:
    import copy
    import dataclasses
    import pickle

    import pytest

    from orderstream.runtime.api import ConsumedRecord, Record

    consumed = ConsumedRecord.of(_Message())
    plain = Record("orders", 2, 41, b"o1", b"payload", (("trace", b"x"),), 1_700_000_000_000)
    assert consumed == plain
    assert plain == consumed
    assert hash(consumed) == hash(plain)
    assert dataclasses.asdict(consumed) == dataclasses.asdict(plain)
    replaced = dataclasses.replace(consumed, value=b"other")
    assert type(replaced) is Record
    assert replaced.value == b"other"
    assert pickle.loads(pickle.dumps(consumed)) == plain
    assert copy.deepcopy(consumed) == plain
    with pytest.raises(dataclasses.FrozenInstanceError):
        consumed.value = b"x"  # type: ignore[misc]
