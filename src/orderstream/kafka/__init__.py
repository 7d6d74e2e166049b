"""Thin typed wrappers over confluent_kafka; only ``producer.py`` begins, commits or aborts."""

from orderstream.kafka.consumer import TP, ChangelogReader, GroupConsumer
from orderstream.kafka.producer import (
    OutputProducer,
    PlainProducer,
    TransactionalProducer,
    TxnState,
)

__all__ = [
    "TP",
    "ChangelogReader",
    "GroupConsumer",
    "OutputProducer",
    "PlainProducer",
    "TransactionalProducer",
    "TxnState",
]
