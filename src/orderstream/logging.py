"""Structured JSON logging for every orderstream process, set up in one place.

Code logs with the standard library (``logger = logging.getLogger(__name__)``) and passes
key-value fields through ``extra=``; structlog renders every record as one JSON object per
line on stderr, with a UTC timestamp, level, logger name and the fields. A line written while
an order is handled (an HTTP request, a record) also has its ``trace_id``, ``span_id`` and
``orderId`` (``orderstream.tracing.log_fields``).

``configure_logging(service=...)`` also turns traces on for that service when the standard
``OTEL_*`` variables ask for them: logs and traces are set up in this one place.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from orderstream.tracing import configure_tracing, log_fields

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def _extra_fields(
    _logger: Any, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def _trace_fields(
    _logger: Any, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    for key, value in log_fields().items():
        event_dict.setdefault(key, value)
    return event_dict


def configure_logging(level: str | int = "INFO", *, json: bool = True, service: str = "") -> None:
    """Route all logging through structlog's JSON (or console) renderer on stderr."""
    shared: list[structlog.typing.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _extra_fields,
        _trace_fields,
    ]
    if service:
        shared.append(_bind_service(service))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if service:
        configure_tracing(service)


def _bind_service(service: str) -> structlog.typing.Processor:
    def add_service(
        _logger: Any, _method: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service
