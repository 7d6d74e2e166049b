"""Transactional per-partition key-value state with a changelog and local snapshots."""

from orderstream.state.backends import MemoryBackend, SqliteSnapshotBackend, snapshot_path
from orderstream.state.changelog import ChangeLoggingStore, ChangelogSink
from orderstream.state.overlay import OverlayState, TransactionalStore
from orderstream.state.restore import RestorePlan, apply_restored, plan_restore
from orderstream.state.store import Change, KeyValueStore, StoreBackend

__all__ = [
    "Change",
    "ChangeLoggingStore",
    "ChangelogSink",
    "KeyValueStore",
    "MemoryBackend",
    "OverlayState",
    "RestorePlan",
    "SqliteSnapshotBackend",
    "StoreBackend",
    "TransactionalStore",
    "apply_restored",
    "plan_restore",
    "snapshot_path",
]
