"""Default ports of the monitoring stack.

Below the kernel's ephemeral range (32768-60999 here), so no client socket holds them; away from
the Kafka controller's 9093 (Alertmanager's own default), Jaeger's ports and the services'.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MonitoringPorts:
    prometheus: int = 9090
    alertmanager: int = 9097
    lag_exporter: int = 9098


DEFAULT_PORTS = MonitoringPorts()
