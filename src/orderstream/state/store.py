"""The key-value store protocols: what processors see, and what backends keep.

A processor sees a ``KeyValueStore`` (one partition of one store, bytes to bytes). Behind it, a
``StoreBackend`` holds the committed state of that partition together with the changelog offset
that state reflects; the transactional overlay (``overlay.py``) sits between the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class KeyValueStore(Protocol):
    """One partition of a store, as processors use it. Values are bytes."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def items(self) -> Iterator[tuple[bytes, bytes]]: ...


# A change to apply: a value, or None for a deletion (a tombstone in the changelog).
Change = tuple[bytes, bytes | None]


class StoreBackend(Protocol):
    """The committed state of one store partition and the changelog offset it reflects."""

    @property
    def changelog_offset(self) -> int | None:
        """The next changelog offset to replay, or None when nothing has been applied yet."""
        ...

    def get(self, key: bytes) -> bytes | None: ...

    def items(self) -> Iterator[tuple[bytes, bytes]]: ...

    def __len__(self) -> int: ...

    def apply(self, changes: Iterable[Change], changelog_offset: int | None) -> None:
        """Apply committed changes; ``changelog_offset`` (when known) is the next offset."""
        ...

    def snapshot(self) -> None:
        """Persist the state and its changelog offset, if this backend persists anything."""
        ...

    def wipe(self) -> None:
        """Forget everything (the state will be rebuilt from the changelog)."""
        ...

    def close(self) -> None: ...
