"""Default ports of the monitoring stack.

Below the kernel's ephemeral range (32768-60999 here), so no client socket holds them; away from
the Kafka controller's 9093 (Alertmanager's own default), Jaeger's ports and the services'.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MonitoringPorts:
    prometheus: int = 9090
    alertmanager: int = 9097
    lag_exporter: int = 9098
    jaeger: int = 16686  # UI and /api/traces (Jaeger's own defaults)
    jaeger_grpc: int = 16685  # the query gRPC API
    jaeger_otlp: int = 4318  # OTLP/HTTP, where the services export their spans


DEFAULT_PORTS = MonitoringPorts()


def recorded_ports(monitoring_dir: Path) -> MonitoringPorts:
    """The ports the home's monitoring was last started on (``ps``/``down`` find it there)."""
    try:
        return MonitoringPorts(**json.loads((monitoring_dir / "ports.json").read_text()))
    except (OSError, ValueError, TypeError):
        return DEFAULT_PORTS


def record_ports(monitoring_dir: Path, ports: MonitoringPorts) -> None:
    monitoring_dir.mkdir(parents=True, exist_ok=True)
    (monitoring_dir / "ports.json").write_text(json.dumps(dataclasses.asdict(ports)))
