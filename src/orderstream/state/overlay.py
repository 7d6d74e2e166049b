"""The transactional overlay: writes of the open transaction, applied on commit, dropped on abort.

States of one overlay (checked in ``_expect``)::

    CLEAN --put/delete--> DIRTY --commit/abort--> CLEAN

Inside a transaction each record runs under a savepoint, so that a record whose processing raises
(it goes to the DLQ) leaves no write behind: ``savepoint()`` starts an undo log,
``rollback_to_savepoint()`` replays it, ``release_savepoint()`` drops it.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

from orderstream.state.store import Change, StoreBackend

_MISSING = object()


class OverlayState(Enum):
    CLEAN = "clean"
    DIRTY = "dirty"


class TransactionalStore:
    """A ``KeyValueStore`` over a backend; uncommitted writes live in an overlay dict."""

    def __init__(self, backend: StoreBackend) -> None:
        self.backend = backend
        self._committed_get = backend.get
        # key -> new value, or None for a deletion.
        self._overlay: dict[bytes, bytes | None] = {}
        self._undo: dict[bytes, object] | None = None

    @property
    def state(self) -> OverlayState:
        return OverlayState.DIRTY if self._overlay else OverlayState.CLEAN

    def get(self, key: bytes) -> bytes | None:
        value = self._overlay.get(key, _MISSING)
        if value is _MISSING:
            return self._committed_get(key)
        return value  # type: ignore[return-value]

    def put(self, key: bytes, value: bytes) -> None:
        undo = self._undo
        if undo is not None and key not in undo:
            undo[key] = self._overlay.get(key, _MISSING)
        self._overlay[key] = value

    def delete(self, key: bytes) -> None:
        undo = self._undo
        if undo is not None and key not in undo:
            undo[key] = self._overlay.get(key, _MISSING)
        self._overlay[key] = None

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

    def savepoint(self) -> None:
        self._undo = {}

    def release_savepoint(self) -> None:
        self._undo = None

    def rollback_to_savepoint(self) -> None:
        undo, self._undo = self._undo, None
        for key, previous in (undo or {}).items():
            if previous is _MISSING:
                self._overlay.pop(key, None)
            else:
                self._overlay[key] = previous  # type: ignore[assignment]

    def commit(self, changelog_offset: int | None) -> None:
        """Apply the overlay to the backend (after the transaction committed)."""
        if self._overlay:
            self.backend.apply(list(self._overlay.items()), changelog_offset)
        elif changelog_offset is not None:
            self.backend.apply((), changelog_offset)
        self._overlay = {}
        self._undo = None

    def abort(self) -> None:
        """Drop the open transaction's writes."""
        self._overlay = {}
        self._undo = None
