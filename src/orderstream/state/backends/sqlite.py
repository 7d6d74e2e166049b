"""In-memory state with a SQLite snapshot on disk that records the changelog offset it reflects.

Reads and writes go to a dict. ``snapshot()`` writes the keys changed since the last snapshot and
the changelog offset, in one SQLite transaction, so the file is always a consistent committed
state. On open the snapshot is loaded and checked: an unreadable file, a row count that differs
from the one recorded, or a snapshot of another changelog partition raises ``TaskCorrupted``
(the caller wipes it and restores from the changelog). A snapshot ahead of the changelog is
detected later, against the changelog's end offsets (``state/restore.py``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from orderstream.errors import TaskCorrupted
from orderstream.state.backends.memory import MemoryBackend
from orderstream.state.store import Change

_FORMAT = "orderstream-snapshot-1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def snapshot_path(state_dir: Path, store: str, partition: int) -> Path:
    """Where the snapshot of one store partition lives."""
    return state_dir / store / f"{partition}.sqlite"


class SqliteSnapshotBackend(MemoryBackend):
    """The in-memory dict, backed by a SQLite snapshot file of one changelog partition."""

    def __init__(self, path: Path, changelog_topic: str, partition: int) -> None:
        super().__init__()
        self.path = path
        self._identity = f"{changelog_topic}/{partition}"
        self._dirty: set[bytes] = set()
        self._snapshot_offset: int | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        conn: sqlite3.Connection | None = None
        try:
            conn = self._conn = self._connect()
            self._load()
        except (sqlite3.DatabaseError, ValueError, KeyError) as exc:
            if conn is not None:
                conn.close()
            raise TaskCorrupted(f"snapshot {path} is unreadable: {exc}") from exc
        except TaskCorrupted:
            self._conn.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    def _load(self) -> None:
        meta = dict(self._conn.execute("SELECT name, value FROM meta").fetchall())
        if not meta:
            return
        if meta.get("format") != _FORMAT or meta.get("identity") != self._identity:
            raise TaskCorrupted(
                f"snapshot {self.path} is not a snapshot of {self._identity} "
                f"(found {meta.get('identity')!r}, format {meta.get('format')!r})"
            )
        self._data.update(self._conn.execute("SELECT key, value FROM kv"))
        if len(self._data) != int(meta.get("rows", "-1")):
            raise TaskCorrupted(
                f"snapshot {self.path} holds {len(self._data)} rows, "
                f"its header says {meta.get('rows')}"
            )
        self._offset = int(meta["offset"])
        self._snapshot_offset = self._offset

    @property
    def snapshot_offset(self) -> int | None:
        """The changelog offset of the state on disk."""
        return self._snapshot_offset

    def apply(self, changes: Iterable[Change], changelog_offset: int | None) -> None:
        changes = changes if isinstance(changes, list) else list(changes)
        super().apply(changes, changelog_offset)
        self._dirty.update(key for key, _ in changes)

    def snapshot(self) -> None:
        """Write the changed keys and the offset in one SQLite transaction."""
        if self._offset is None or (not self._dirty and self._offset == self._snapshot_offset):
            return
        data = self._data
        present = [(k, data[k]) for k in self._dirty if k in data]
        gone = [(k,) for k in self._dirty if k not in data]
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", present)
            conn.executemany("DELETE FROM kv WHERE key = ?", gone)
            conn.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                [
                    ("format", _FORMAT),
                    ("identity", self._identity),
                    ("offset", str(self._offset)),
                    ("rows", str(len(data))),
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._dirty.clear()
        self._snapshot_offset = self._offset

    def wipe(self) -> None:
        """Delete the file and start empty."""
        self._conn.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()
        super().wipe()
        self._dirty = set()
        self._snapshot_offset = None
        self._conn = self._connect()

    def close(self) -> None:
        self._conn.close()
