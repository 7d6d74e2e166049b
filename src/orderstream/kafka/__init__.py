"""Thin typed wrappers over confluent_kafka; only ``producer.py`` begins, commits or aborts;
``table.py`` is the one whole-topic reader."""

from orderstream.kafka.consumer import TP, ChangelogReader, GroupConsumer
from orderstream.kafka.producer import (
    OutputProducer,
    PlainProducer,
    TransactionalProducer,
    TxnState,
)
from orderstream.kafka.table import TopicTable

__all__ = [
    "TP",
    "ChangelogReader",
    "GroupConsumer",
    "OutputProducer",
    "PlainProducer",
    "TopicTable",
    "TransactionalProducer",
    "TxnState",
]
