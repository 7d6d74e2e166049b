"""Store backends: in-memory, and in-memory with a SQLite snapshot on disk."""

from orderstream.state.backends.memory import MemoryBackend
from orderstream.state.backends.sqlite import SqliteSnapshotBackend, snapshot_path

__all__ = ["MemoryBackend", "SqliteSnapshotBackend", "snapshot_path"]
