"""A pure in-memory backend: a dict and the changelog offset it reflects."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from orderstream.state.store import Change


class MemoryBackend:
    """Committed state in a dict; nothing survives the process."""

    def __init__(self) -> None:
        # The dict is never replaced, so that ``get`` can be its bound C method (hot path).
        self._data: dict[bytes, bytes] = {}
        self.get = self._data.get  # type: ignore[method-assign, assignment]
        self._offset: int | None = None

    @property
    def changelog_offset(self) -> int | None:
        return self._offset

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._data.items()))

    def __len__(self) -> int:
        return len(self._data)

    def apply(self, changes: Iterable[Change], changelog_offset: int | None) -> None:
        data = self._data
        changes = changes if isinstance(changes, list) else list(changes)
        # One C-level update, then drop the keys whose LAST change is a deletion (a restore
        # batch may hold several changes of one key).
        data.update(changes)
        for key, value in changes:
            if value is None and data.get(key) is None:
                data.pop(key, None)
        if changelog_offset is not None:
            self._offset = changelog_offset

    def snapshot(self) -> None:
        """Nothing to persist."""

    def wipe(self) -> None:
        self._data.clear()
        self._offset = None

    def close(self) -> None:
        """Nothing to release."""
