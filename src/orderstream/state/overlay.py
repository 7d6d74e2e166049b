"""The transactional overlay: writes of the open transaction, applied on commit, dropped on abort.

States of one overlay (checked in ``_expect``)::

    CLEAN --put/delete--> DIRTY --commit/abort--> CLEAN

Inside a transaction each record runs under a savepoint, so that a record whose processing raises
(it goes to the DLQ) leaves no write behind. A savepoint is an undo log, a list of
``(overlay, key, previous)`` entries: ``savepoint()`` starts one for this store,
``rollback_to_savepoint()`` replays it, ``release_savepoint()`` drops it. The runtime instead
attaches one log shared by all the stores a record may touch (``log_undo_to``), clears it when a
record succeeds and replays it (``undo``) when it fails: no bookkeeping per store and record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import Enum

from orderstream.state.store import Change, StoreBackend

_MISSING = object()

# (overlay, key, the key's previous overlay value or _MISSING): one write to undo.
Undo = tuple[dict[bytes, bytes | None], bytes, object]


def undo(log: list[Undo]) -> None:
    """Undo the logged writes, newest first, and empty the log."""
    for overlay, key, previous in reversed(log):
        if previous is _MISSING:
            overlay.pop(key, None)
        else:
            overlay[key] = previous  # type: ignore[assignment]
    log.clear()


class OverlayState(Enum):
    CLEAN = "clean"
    DIRTY = "dirty"


def _overlay_over(committed_get: Callable[[bytes], bytes | None]) -> dict[bytes, bytes | None]:
    """An empty overlay whose misses read ``committed_get``: ``overlay[key]`` is a store read
    done in C (the hot path reads once per record), with no Python frame.

    ``__missing__`` is looked up on the type, hence one small class per store partition; as a
    staticmethod it is called with the key alone. ``dict.get`` does not consult it, so
    ``overlay.get(key, _MISSING)`` still tells what the overlay itself holds.
    """
    namespace = {"__slots__": (), "__missing__": staticmethod(committed_get)}
    return type("Overlay", (dict,), namespace)()  # type: ignore[no-any-return]


class TransactionalStore:
    """A ``KeyValueStore`` over a backend; uncommitted writes live in an overlay dict.

    The overlay is never replaced (emptied in place on commit and abort), so that ``get`` can
    be its bound ``__getitem__``.
    """

    def __init__(self, backend: StoreBackend) -> None:
        self.backend = backend
        # key -> new value, or None for a deletion; a miss reads the committed state.
        self._overlay = _overlay_over(backend.get)
        self.get = self._overlay.__getitem__  # type: ignore[method-assign, assignment]
        self._undo: list[Undo] | None = None

    @property
    def state(self) -> OverlayState:
        return OverlayState.DIRTY if self._overlay else OverlayState.CLEAN

    def get(self, key: bytes) -> bytes | None:
        return self._overlay[key]

    def put(self, key: bytes, value: bytes) -> None:
        overlay = self._overlay
        log = self._undo
        if log is not None:
            log.append((overlay, key, overlay.get(key, _MISSING)))
        overlay[key] = value

    def delete(self, key: bytes) -> None:
        overlay = self._overlay
        log = self._undo
        if log is not None:
            log.append((overlay, key, overlay.get(key, _MISSING)))
        overlay[key] = None

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Committed items merged with the open transaction's writes."""
        overlay = self._overlay
        for key, value in self.backend.items():
            if key not in overlay:
                yield key, value
        for key, pending in list(overlay.items()):
            if pending is not None:
                yield key, pending

    def pending(self) -> list[Change]:
        """The writes of the open transaction (what the changelog must receive)."""
        return list(self._overlay.items())

    def log_undo_to(self, log: list[Undo] | None) -> None:
        """Log how to undo every following write to ``log`` (None: stop logging)."""
        self._undo = log

    def savepoint(self) -> None:
        self._undo = []

    def release_savepoint(self) -> None:
        self._undo = None

    def rollback_to_savepoint(self) -> None:
        log, self._undo = self._undo, None
        if log:
            undo(log)

    def commit(self, changelog_offset: int | None) -> None:
        """Apply the overlay to the backend (after the transaction committed)."""
        if self._overlay:
            self.backend.apply(list(self._overlay.items()), changelog_offset)
        elif changelog_offset is not None:
            self.backend.apply((), changelog_offset)
        self._overlay.clear()
        self._forget_undo()

    def abort(self) -> None:
        """Drop the open transaction's writes."""
        self._overlay.clear()
        self._forget_undo()

    def _forget_undo(self) -> None:
        # The log stays attached (the runtime's context owns it) but its entries are about an
        # overlay that is gone.
        if self._undo:
            self._undo.clear()
