"""Running until SIGTERM or SIGINT: the one way a service's main loop is stopped by a signal."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger(__name__)


def run_until_signalled(run: Callable[[], None], stop: Callable[[], None]) -> None:
    """Call ``run``; SIGTERM and SIGINT call ``stop`` (which makes ``run`` return). The previous
    handlers are back once ``run`` returns or raises."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("stopping on signal", extra={"signal": signal.Signals(signum).name})
        stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
