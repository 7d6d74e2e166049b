"""The payment circuit's state for the dashboard, read from payments' own ``/metrics``.

Payments already publishes ``orderstream_payments_circuit_state`` (0 closed, 1 half-open,
2 open) where Prometheus scrapes it, so the dashboard reads the same figure rather than a second
channel that could disagree. The read happens here, server side, so the page needs no access
to the payments port (and no CORS). When payments is down or answers without the gauge, the
view says "unknown" and why; it never keeps showing the last state as if it were current.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from orderstream.services.analytics.live import CircuitView, LiveView

logger = logging.getLogger(__name__)

STATE_GAUGE = "orderstream_payments_circuit_state"
OPENED_GAUGE = "orderstream_payments_circuit_opened"
WAITING_GAUGE = "orderstream_payments_waiting"
STATES = {0: "closed", 1: "half-open", 2: "open"}


def parse_circuit(text: str, source: str, now: float) -> CircuitView:
    """The circuit from a Prometheus text exposition; unknown when the gauge is missing."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (STATE_GAUGE, OPENED_GAUGE, WAITING_GAUGE):
                values[sample.name] = sample.value
    state = values.get(STATE_GAUGE)
    if state is None or int(state) not in STATES:
        return CircuitView(None, f"{source} has no {STATE_GAUGE}", checked_at=now, source=source)
    opened, waiting = values.get(OPENED_GAUGE), values.get(WAITING_GAUGE)
    return CircuitView(
        STATES[int(state)],
        "read from payments",
        None if opened is None else int(opened),
        None if waiting is None else int(waiting),
        now,
        source,
    )


def read_circuit(
    url: str, get: Callable[..., httpx.Response] = httpx.get, clock: Callable[[], float] = time.time
) -> CircuitView:
    """One reading of payments' ``/metrics`` at ``url``; any failure is "unknown" with why."""
    try:
        response = get(url, timeout=2.0)
        response.raise_for_status()
        return parse_circuit(response.text, url, clock())
    except (httpx.HTTPError, ValueError) as exc:
        detail = f"payments not reachable at {url}: {type(exc).__name__}: {exc}"
        return CircuitView(None, detail, checked_at=clock(), source=url)


class CircuitPoller:
    """A daemon thread that refreshes the live view's circuit every ``interval_s``."""

    def __init__(self, url: str, live: LiveView, interval_s: float = 1.0) -> None:
        self._url = url
        self._live = live
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="circuit-poller", daemon=True)
        self._last_state: str | None = "not read"

    def start(self) -> None:
        if not self._url:
            self._live.set_circuit(CircuitView(None, "no payments metrics URL configured"))
            return
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        # One client for every reading: httpx.get builds a client, and with it an SSL context
        # (the CA bundle parsed again), each second; that was a few % of the process' CPU.
        with httpx.Client() as client:
            while not self._stop.is_set():
                self._read_once(client)
                self._stop.wait(self._interval)

    def _read_once(self, client: httpx.Client) -> None:
        view = read_circuit(self._url, client.get)
        if view.state != self._last_state:  # log changes, not every reading
            log = logger.info if view.state else logger.warning
            log(
                "payment circuit on the dashboard",
                extra={"state": view.state or "unknown", "detail": view.detail},
            )
            self._last_state = view.state
        self._live.set_circuit(view)
