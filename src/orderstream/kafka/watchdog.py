"""A guard for librdkafka calls that can block past their own timeout.

``send_offsets_to_transaction`` can block for good when the group coordinator restarts:
librdkafka never checks the timeout of coordinator requests (librdkafka issue 5456, fix in PR
5457, open), and since v2.10 a restarted coordinator that was dropped from the metadata is never
asked again (issue 5511, open). Seen here: enrichment and analytics both stuck in that call for
over ten minutes after a clean broker restart, until the group expelled them.

A blocked C call cannot be interrupted from Python. The guard notes each guarded call's deadline;
a daemon thread that finds one passed logs what happened and, in a service process that asked
for it (``exit_when_hung``, set by ``orderstream run``), exits with ``EXIT_HUNG`` so that its
supervisor starts it again. That is safe under exactly-once: the new producer's
``init_transactions()`` fences the stuck one and aborts its transaction, and the new consumer
resumes from the committed offsets. A library user's process is only told, in the log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

EXIT_HUNG = 75  # EX_TEMPFAIL: try again (a supervisor restarts the service)
HANG_MARGIN_S = 20.0  # beyond the call's own timeout before it counts as hung
_CHECK_EVERY_S = 1.0


class CallWatchdog:
    """One watcher thread for the calls of one process (they run one at a time per client)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[int, tuple[str, float]] = {}  # token -> (call, deadline)
        self._next = 0
        self._exit = False
        self._thread: threading.Thread | None = None

    def exit_when_hung(self) -> None:
        self._exit = True

    @contextmanager
    def guard(self, call: str, timeout_s: float) -> Iterator[None]:
        """Watch ``call``: hung once it runs ``HANG_MARGIN_S`` past its own ``timeout_s``."""
        with self._lock:
            self._next += 1
            token = self._next
            self._calls[token] = (call, time.monotonic() + timeout_s + HANG_MARGIN_S)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="kafka-watchdog")
                self._thread.daemon = True
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                del self._calls[token]

    def hung(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [call for call, deadline in self._calls.values() if deadline < now]

    def _watch(self) -> None:
        told: set[str] = set()
        while True:
            time.sleep(_CHECK_EVERY_S)
            for call in self.hung():
                if self._exit:
                    logger.critical(
                        "%s is stuck inside librdkafka past its timeout (librdkafka issues "
                        "5456/5511: a restarted group coordinator is not asked again); exiting "
                        "with code %d so that the supervisor restarts this service: the new "
                        "producer fences the stuck transaction, nothing is lost or doubled",
                        call,
                        EXIT_HUNG,
                    )
                    logging.shutdown()
                    os._exit(EXIT_HUNG)
                if call not in told:
                    told.add(call)
                    logger.error(
                        "%s is stuck inside librdkafka past its timeout (librdkafka issues "
                        "5456/5511); restart this process if it does not return",
                        call,
                    )


WATCHDOG = CallWatchdog()
