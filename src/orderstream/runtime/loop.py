"""The processing loop: runs sessions until stopped, rebuilding after ``TaskMigrated``.

``ProcessingLoop.run()`` blocks; ``stop()`` (or SIGTERM/SIGINT under ``run_processor``) makes it
finish the open transaction, leave the group and return. The service shell (``/metrics``,
``/healthz``, ``/readyz``) runs beside it when ``RuntimeConfig.http_port`` is set.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from orderstream.config import Settings
from orderstream.errors import TaskMigrated
from orderstream.runtime.api import Processor, RuntimeConfig
from orderstream.runtime.http import ServiceShell
from orderstream.runtime.metrics import RuntimeMetrics
from orderstream.runtime.session import Session

logger = logging.getLogger(__name__)

_STALL_S = 30.0  # a loop that has not cycled for this long is not healthy
_LAG_EVERY_S = 2.0
_REBUILD_BACKOFF_S = 0.5


class ProcessingLoop:
    """Runs ``processor`` under ``config``; see the module docstring."""

    def __init__(self, processor: Processor, config: RuntimeConfig, settings: Settings) -> None:
        self.processor = processor
        self.config = config
        self.settings = settings
        self.metrics = RuntimeMetrics(config.app_id, config.instance_id)
        self.session: Session | None = None
        self.shell: ServiceShell | None = None
        self.rebuilds = 0
        self._stop = threading.Event()
        self.finished = threading.Event()  # set when run() returns
        self.error: BaseException | None = None  # what ended run() with an exception
        self._running = False
        self._last_lag = 0.0

    @property
    def http_port(self) -> int | None:
        return self.shell.port if self.shell else None

    def stop(self) -> None:
        """Ask the loop to finish the open transaction, leave the group and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        if self.config.http_port is not None:
            self.shell = ServiceShell(
                self.config.http_host,
                self.config.http_port,
                self.metrics.registry,
                self.healthy,
                self.ready,
            )
        self._running = True
        try:
            while not self._stop.is_set():
                self._run_session()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._running = False
            if self.shell is not None:
                self.shell.close()
            self.finished.set()

    def _run_session(self) -> None:
        session = Session(self.processor, self.config, self.settings, self.metrics)
        self.session = session
        try:
            session.open()
            while not self._stop.is_set():
                session.run_cycle()
                self._update_lag(session)
        except TaskMigrated as exc:
            self.rebuilds += 1
            self.metrics.task_migrations.inc()
            logger.warning("task migrated, rebuilding the session", extra={"error": str(exc)})
            session.close_after_failure()
            self._stop.wait(_REBUILD_BACKOFF_S)  # do not spin when the cause persists
            return
        except BaseException:
            session.close_after_failure()
            raise
        try:
            session.close_gracefully()
        except TaskMigrated as exc:
            logger.warning("could not finish the last transaction", extra={"error": str(exc)})
            session.close_after_failure()

    def _update_lag(self, session: Session) -> None:
        now = time.monotonic()
        if now - self._last_lag < _LAG_EVERY_S:
            return
        self._last_lag = now
        for task in session.registry.running():
            if task.committed_offset is None:
                continue
            _, high = session.consumer.end_offsets(task.tp, cached=True)
            position = task.next_offset or task.committed_offset
            if high >= 0 and position >= 0:
                self.metrics.lag.labels(task.tp[0], str(task.tp[1])).set(max(0, high - position))

    # -- probes ---------------------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        session = self.session
        if not self._running or session is None:
            return False, "not running"
        stalled = time.monotonic() - session.last_cycle
        if stalled > _STALL_S:
            return False, f"loop stalled for {stalled:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        ok, why = self.healthy()
        session = self.session
        if not ok or session is None:
            return False, why
        tasks = session.registry.tasks
        if not tasks:
            return False, "no partitions assigned"
        restoring = [tp for tp, t in tasks.items() if t.state.value != "running"]
        if restoring:
            return False, f"restoring {len(restoring)} partitions"
        return True, f"processing {len(tasks)} partitions"


def run_processor(processor: Processor, config: RuntimeConfig, settings: Settings) -> None:
    """Run until SIGTERM/SIGINT: then finish or abort the open transaction and leave the group."""
    loop = ProcessingLoop(processor, config, settings)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("stopping on signal", extra={"signal": signal.Signals(signum).name})
        loop.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        loop.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
