"""``up --monitoring``: the monitoring stack as an optional part of ``orderstream up``.

Jaeger starts before the services, which get ``OTEL_EXPORTER_OTLP_ENDPOINT`` (unless the
environment already names one), so that their spans go to it from the first order; Prometheus,
Alertmanager and the lag exporter start after them, since the scrape configuration is generated
from what runs. ``down`` and ``ps`` see these processes whether or not this ``up`` started them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx

from orderstream.config import Settings
from orderstream.errors import PlatformError
from orderstream.monitoring.jaeger import otlp_endpoint
from orderstream.monitoring.ports import MonitoringPorts, recorded_ports
from orderstream.monitoring.stack import MonitoringStack
from orderstream.ops.stack import ProcessInfo
from orderstream.ops.stack_parts import PartDefaults

Report = Callable[[str], None]


class MonitoringPart(PartDefaults):
    name = "monitoring"

    def __init__(self, settings: Settings, ports: MonitoringPorts | None = None) -> None:
        self.settings = settings
        # Given: a test's free ports; else those of the last start (default ports at first).
        self.ports = ports or recorded_ports(settings.home / "monitoring")

    def _stack(self, settings: Settings | None = None) -> MonitoringStack:
        return MonitoringStack(settings or self.settings, self.ports)

    def prepare(self, settings: Settings, env: dict[str, str], report: Report) -> None:
        self._stack(settings).start_tracing(report)
        env.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint(self.ports))

    def start(self, settings: Settings, report: Report) -> None:
        self._stack(settings).start(report)

    def stop(self, report: Report) -> None:
        stack = self._stack()
        if stack.running():
            stack.stop(report)

    def processes(self) -> list[ProcessInfo]:
        stack = self._stack()
        infos = []
        for component in (stack.jaeger, *stack.components):
            proc = stack.process(component)
            alive = proc.alive()
            infos.append(
                ProcessInfo(component.name, proc.pid() if alive else None, component.port, alive)
            )
        return [i for i in infos if i.alive]


def post_traced_order(orders_url: str) -> str:
    """Post one order with a sampled ``traceparent`` of our own; returns its trace id."""
    from orderstream.ops.load import LoadSpec, build_orders, order_json

    trace_id = secrets.token_hex(16)
    (order,) = build_orders(LoadSpec(count=1, rate=0))
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    answer = httpx.post(f"{orders_url}/orders", json=order_json(order), headers=headers, timeout=10)
    if answer.status_code != 202:
        raise PlatformError(f"the traced order was refused ({answer.status_code}): {answer.text}")
    return trace_id
