"""Jaeger's configuration for one home: OTLP/HTTP in, memory storage, the UI and query API.

Jaeger v2 started without a configuration takes a dozen ports (zipkin, thrift, health, expvar,
zpages, its own metrics on 8888...). This one opens three, all on 127.0.0.1: the UI/query API,
the query gRPC API (which jaeger_query always serves) and the OTLP/HTTP receiver the services
export to. Traces live in memory: a restart forgets them, as a local trace viewer may.
"""

from __future__ import annotations

from typing import Any

from orderstream.monitoring.ports import MonitoringPorts

MAX_TRACES = 100_000
# Jaeger's own OpenTelemetry SDK would export its traces to 127.0.0.1:4317 (nothing listens:
# errors, and a 10 s wait at shutdown); and it must never send its spans to itself.
JAEGER_ENV = {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "none"}


def otlp_endpoint(ports: MonitoringPorts) -> str:
    """What the services get as OTEL_EXPORTER_OTLP_ENDPOINT (the exporter adds /v1/traces)."""
    return f"http://127.0.0.1:{ports.jaeger_otlp}"


def jaeger_config(ports: MonitoringPorts) -> dict[str, Any]:
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "jaeger_query": {
                "storage": {"traces": "memstore"},
                "http": {"endpoint": f"127.0.0.1:{ports.jaeger}"},
                "grpc": {"endpoint": f"127.0.0.1:{ports.jaeger_grpc}"},
            },
            "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": MAX_TRACES}}}},
        },
        "receivers": {
            "otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{ports.jaeger_otlp}"}}}
        },
        "processors": {"batch": {"timeout": "500ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }
