"""The transactional overlay and the changelogging wrapper."""

from __future__ import annotations

from collections.abc import Sequence

from orderstream.state import (
    Change,
    ChangeLoggingStore,
    MemoryBackend,
    OverlayState,
    TransactionalStore,
)


def test_writes_are_visible_in_the_transaction_but_not_committed_until_commit() -> None:
    backend = MemoryBackend()
    store = TransactionalStore(backend)
    store.put(b"a", b"1")
    assert store.get(b"a") == b"1"
    assert backend.get(b"a") is None
    assert store.state is OverlayState.DIRTY
    store.commit(changelog_offset=7)
    assert backend.get(b"a") == b"1"
    assert backend.changelog_offset == 7
    assert store.state is OverlayState.CLEAN


def test_abort_drops_the_overlay_and_keeps_committed_state() -> None:
    backend = MemoryBackend()
    store = TransactionalStore(backend)
    store.put(b"a", b"1")
    store.commit(1)
    store.put(b"a", b"2")
    store.delete(b"a")
    assert store.get(b"a") is None
    store.abort()
    assert store.get(b"a") == b"1"
    assert backend.changelog_offset == 1


def test_delete_commits_as_a_removal_and_items_merge_the_overlay() -> None:
    store = TransactionalStore(MemoryBackend())
    store.put(b"a", b"1")
    store.put(b"b", b"2")
    store.commit(None)
    store.delete(b"a")
    store.put(b"c", b"3")
    assert dict(store.items()) == {b"b": b"2", b"c": b"3"}
    store.commit(None)
    assert dict(store.backend.items()) == {b"b": b"2", b"c": b"3"}


def test_rollback_to_savepoint_undoes_only_the_failed_records_writes() -> None:
    store = TransactionalStore(MemoryBackend())
    store.put(b"a", b"committed")
    store.commit(None)
    store.savepoint()
    store.put(b"b", b"ok")
    store.release_savepoint()
    store.savepoint()
    store.put(b"a", b"bad")
    store.put(b"a", b"worse")
    store.delete(b"b")
    store.put(b"new", b"x")
    store.rollback_to_savepoint()
    assert store.get(b"a") == b"committed"
    assert store.get(b"b") == b"ok"
    assert store.get(b"new") is None
    assert store.pending() == [(b"b", b"ok")]


class ListSink:
    def __init__(self) -> None:
        self.logged: list[tuple[str, int, list[Change]]] = []

    def log_changes(self, topic: str, partition: int, changes: Sequence[Change]) -> None:
        self.logged.append((topic, partition, list(changes)))


def test_changelog_wrapper_logs_the_last_value_of_each_key_once() -> None:
    store = ChangeLoggingStore(TransactionalStore(MemoryBackend()), "cl", 3)
    store.put(b"a", b"1")
    store.put(b"a", b"2")
    store.put(b"b", b"1")
    store.delete(b"b")
    sink = ListSink()
    assert store.flush(sink) == 2
    assert sink.logged == [("cl", 3, [(b"a", b"2"), (b"b", None)])]
    store.inner.commit(10)
    assert store.flush(sink) == 0
