"""``StoppableThread``: the start/stop of the background samplers, monitors and load generators.

Each of them ran a daemon thread next to a stop event and wrote the same ``start`` and ``stop``
around the pair; a subclass now only writes ``run``, which returns once ``stopping`` is set
(``self.stopping.wait(interval_s)`` paces a loop and wakes at once on ``stop``).
"""

from __future__ import annotations

import threading


class StoppableThread(threading.Thread):
    """A daemon thread that its owner stops: ``stop`` sets ``stopping`` and joins."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()

    def stop(self, timeout_s: float) -> None:
        """Ask ``run`` to return and wait up to ``timeout_s`` for it (at once if never started)."""
        self.stopping.set()
        if self.ident is not None:
            self.join(timeout_s)
