"""StoppableThread: the start/stop shared by chaos' observers and the lag exporter."""

from __future__ import annotations

import time

from orderstream.monitoring.lag_exporter import LagExporter
from orderstream.threads import StoppableThread


class _Ticker(StoppableThread):
    def __init__(self) -> None:
        super().__init__("ticker")
        self.ticks = 0

    def run(self) -> None:
        while not self.stopping.wait(60):  # only stop can end this wait early
            self.ticks += 1


def test_stop_wakes_a_paced_loop_at_once() -> None:
    ticker = _Ticker()
    ticker.start()
    began = time.monotonic()
    ticker.stop(30)
    assert not ticker.is_alive()
    assert time.monotonic() - began < 10
    assert ticker.ticks == 0
    assert ticker.daemon and ticker.name == "ticker"


def test_stop_of_a_thread_never_started_returns() -> None:
    ticker = _Ticker()
    ticker.stop(30)
    assert ticker.stopping.is_set()
    assert not ticker.is_alive()


def test_lag_exporter_stopped_before_it_serves() -> None:
    """A signal before ``serve`` (cli/monitoring.py's handler) used to join an unstarted thread."""
    exporter = LagExporter({"bootstrap.servers": "127.0.0.1:1"}, {})
    exporter.stop()
    exporter.wait()  # returns: stopping is set
    assert not exporter.is_alive()
