"""The SQLite snapshot backend and the restore plan: trusted, corrupt, ahead of the changelog."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderstream.errors import TaskCorrupted
from orderstream.state import MemoryBackend, SqliteSnapshotBackend, plan_restore, snapshot_path


def _backend(tmp_path: Path, topic: str = "cl", partition: int = 0) -> SqliteSnapshotBackend:
    return SqliteSnapshotBackend(snapshot_path(tmp_path, "s", partition), topic, partition)


def test_snapshot_survives_reopen_with_its_offset(tmp_path: Path) -> None:
    b = _backend(tmp_path)
    b.apply([(b"a", b"1"), (b"b", b"2")], 5)
    b.snapshot()
    b.apply([(b"a", None), (b"c", b"3")], 9)
    b.snapshot()
    b.apply([(b"d", b"4")], 12)  # not snapshotted: lost on "crash"
    b.close()
    again = _backend(tmp_path)
    assert dict(again.items()) == {b"b": b"2", b"c": b"3"}
    assert again.changelog_offset == 9
    again.close()


def test_a_garbage_file_is_reported_corrupt(tmp_path: Path) -> None:
    path = snapshot_path(tmp_path, "s", 0)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(TaskCorrupted, match="unreadable"):
        SqliteSnapshotBackend(path, "cl", 0)


def test_a_row_count_mismatch_is_reported_corrupt(tmp_path: Path) -> None:
    import sqlite3

    b = _backend(tmp_path)
    b.apply([(b"a", b"1"), (b"b", b"2")], 5)
    b.snapshot()
    b.close()
    conn = sqlite3.connect(snapshot_path(tmp_path, "s", 0))
    conn.execute("DELETE FROM kv WHERE key = ?", (b"a",))
    conn.commit()
    conn.close()
    with pytest.raises(TaskCorrupted, match="rows"):
        _backend(tmp_path)


def test_a_snapshot_of_another_partition_is_rejected(tmp_path: Path) -> None:
    b = _backend(tmp_path, "cl", 0)
    b.apply([(b"a", b"1")], 1)
    b.snapshot()
    b.close()
    with pytest.raises(TaskCorrupted, match="not a snapshot of other/0"):
        SqliteSnapshotBackend(snapshot_path(tmp_path, "s", 0), "other", 0)


def test_wipe_removes_the_file_content(tmp_path: Path) -> None:
    b = _backend(tmp_path)
    b.apply([(b"a", b"1")], 3)
    b.snapshot()
    b.wipe()
    assert len(b) == 0
    assert b.changelog_offset is None
    b.close()
    assert len(_backend(tmp_path)) == 0


def test_plan_replays_the_tail_after_a_trusted_snapshot() -> None:
    b = MemoryBackend()
    b.apply([(b"a", b"1")], 40)
    plan = plan_restore(b, low=0, end=100, what="s/0")
    assert (plan.start, plan.end, plan.wiped, plan.records) == (40, 100, False, 60)


def test_plan_rebuilds_a_snapshot_ahead_of_the_changelog() -> None:
    b = MemoryBackend()
    b.apply([(b"a", b"1")], 500)
    plan = plan_restore(b, low=0, end=100, what="s/0")
    assert plan.wiped
    assert (plan.start, plan.end) == (0, 100)
    assert len(b) == 0


def test_plan_rebuilds_a_snapshot_older_than_the_changelog_start() -> None:
    b = MemoryBackend()
    b.apply([(b"a", b"1")], 5)
    plan = plan_restore(b, low=10, end=100, what="s/0")
    assert plan.wiped
    assert plan.start == 10


def test_plan_without_snapshot_replays_everything() -> None:
    plan = plan_restore(MemoryBackend(), low=3, end=8, what="s/0")
    assert (plan.start, plan.end, plan.wiped) == (3, 8, False)


@pytest.mark.parametrize("backend_kind", ["memory", "sqlite"])
def test_a_batch_with_several_changes_of_one_key_keeps_the_last(
    tmp_path: Path, backend_kind: str
) -> None:
    b = MemoryBackend() if backend_kind == "memory" else _backend(tmp_path)
    b.apply([(b"a", b"1"), (b"a", None), (b"b", None), (b"b", b"2"), (b"c", b"3")], 5)
    b.apply([(b"c", None), (b"c", b"4"), (b"c", None)], 8)
    assert dict(b.items()) == {b"b": b"2"}
    b.snapshot()
    b.close()
