"""The processing loop: runs sessions until stopped, rebuilding after ``TaskMigrated``.

``ProcessingLoop.run()`` blocks; ``stop()`` (or SIGTERM/SIGINT under ``run_processor``) makes it
finish the open transaction, leave the group and return. The service shell (``/metrics``,
``/healthz``, ``/readyz``) runs beside it when ``RuntimeConfig.http_port`` is set.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import KafkaException

from orderstream.config import Settings
from orderstream.errors import TaskMigrated
from orderstream.kafka.errors import BrokerUnavailable
from orderstream.kafka.producer import RETRY_BUDGET_S
from orderstream.runtime.api import Processor, RuntimeConfig
from orderstream.runtime.http import ServiceShell
from orderstream.runtime.metrics import RuntimeMetrics
from orderstream.runtime.session import ProducerFactory, Session
from orderstream.runtime.signals import run_until_signalled

logger = logging.getLogger(__name__)

# A loop that has not cycled for this long is not healthy. Above the producer's longest retry
# budget, so that /healthz never calls an instance stalled while it retries a commit.
STALL_LIMIT_S = RETRY_BUDGET_S + 5.0
_LAG_EVERY_S = 2.0
_REBUILD_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)  # after 1, 2, 3, 4+ rebuilds in a row


class ProcessingLoop:
    """Runs ``processor`` under ``config``; see the module docstring."""

    def __init__(
        self,
        processor: Processor,
        config: RuntimeConfig,
        settings: Settings,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        self.processor = processor
        self.config = config
        self.settings = settings
        self.producer_factory = producer_factory
        self._failures_in_a_row = 0
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
        session = Session(
            self.processor, self.config, self.settings, self.metrics, self.producer_factory
        )
        self.session = session
        try:
            session.open()
            while not self._stop.is_set():
                session.run_cycle()
                self._failures_in_a_row = 0
                self._update_lag(session)
        except TaskMigrated as exc:
            self._rebuild_after(session, exc)
            return
        except KafkaException as exc:  # every call is translated in orderstream.kafka: a bug
            logger.error("untranslated Kafka error", extra={"error": str(exc)})
            self._rebuild_after(session, BrokerUnavailable(str(exc)))
            return
        except BaseException:
            session.close_after_failure()
            raise
        try:
            session.close_gracefully()
        except TaskMigrated as exc:
            logger.warning("could not finish the last transaction", extra={"error": str(exc)})
            session.close_after_failure()

    def _rebuild_after(self, session: Session, exc: TaskMigrated) -> None:
        """Drop the session; build a new one after a backoff that grows while the cause
        persists (e.g. the cluster is down: every new session fails until it is back)."""
        self.rebuilds += 1
        self.metrics.task_migrations.inc()
        session.close_after_failure()  # serves the clients' callbacks one last time
        session.login.raise_if_refused()  # a refused login is a config error: no rebuild
        backoff = _REBUILD_BACKOFF_S[min(self._failures_in_a_row, len(_REBUILD_BACKOFF_S) - 1)]
        self._failures_in_a_row += 1
        what = (
            "the cluster did not answer"
            if isinstance(exc, BrokerUnavailable)
            else "task migrated (fenced, fatal, or a commit outcome unknown)"
        )
        logger.warning(
            "%s: uncommitted work dropped, rebuilding the session from committed data in %.1fs",
            what,
            backoff,
            extra={"error": str(exc), "rebuilds": self.rebuilds},
        )
        self._stop.wait(backoff)

    def _update_lag(self, session: Session) -> None:
        now = time.monotonic()
        if now - self._last_lag < _LAG_EVERY_S:
            return
        self._last_lag = now
        for task in session.registry.running():
            if task.committed_offset is None:
                continue
            try:
                _, high = session.consumer.end_offsets(task.tp, cached=True)
            except BrokerUnavailable:
                continue  # the cached watermarks are not known yet
            position = task.next_offset or task.committed_offset
            if high >= 0 and position >= 0:
                self.metrics.lag.labels(task.tp[0], str(task.tp[1])).set(max(0, high - position))

    # -- probes ---------------------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        session = self.session
        if not self._running or session is None:
            return False, "not running"
        stalled = time.monotonic() - session.last_cycle
        if stalled > STALL_LIMIT_S:
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
    run_until_signalled(loop.run, loop.stop)
