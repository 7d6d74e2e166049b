"""The exactly-once processing runtime: what every consuming service is built on.

Public API (the contract services code against)::

    Record, StoreSpec, KeyValueStore, ProcessorContext, PunctuateContext, Processor,
    RuntimeConfig, ProcessingLoop, run_processor
"""

from orderstream.runtime.api import (
    Processor,
    ProcessorContext,
    PunctuateContext,
    Punctuator,
    Record,
    RuntimeConfig,
    StoreSpec,
)
from orderstream.runtime.dlq import (
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
    dlq_topic,
)
from orderstream.runtime.loop import ProcessingLoop, run_processor
from orderstream.state.store import KeyValueStore

__all__ = [
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
