"""The runtime's public API and the producer's error classification."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

import orderstream.runtime as runtime
from orderstream.errors import TaskMigrated, TransactionAborted
from orderstream.kafka.errors import translate_txn_error
from orderstream.runtime import Processor, RuntimeConfig
from orderstream.testing.aggregate import AggregateProcessor


def test_exported_names() -> None:
    assert set(runtime.__all__) >= {
        "Record",
        "StoreSpec",
        "KeyValueStore",
        "ProcessorContext",
        "PunctuateContext",
        "Processor",
        "RuntimeConfig",
        "ProcessingLoop",
        "run_processor",
    }


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
