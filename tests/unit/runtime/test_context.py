"""RecordContext's shared undo log: a failed record undoes only its own writes."""

from __future__ import annotations

import pytest

from orderstream.runtime.api import StoreSpec
from orderstream.runtime.context import RecordContext, StoreNotAssigned
from orderstream.runtime.tasks import TaskRegistry


def _context() -> tuple[RecordContext, TaskRegistry]:
    registry = TaskRegistry((StoreSpec("s", "cl", "in"),), None)
    for partition in (0, 1):
        registry.activate(registry.create(("in", partition)))
    return RecordContext(registry.stores), registry


def test_a_failed_record_in_a_transaction_undoes_only_its_writes() -> None:
    ctx, registry = _context()
    ctx.start(0)
    store = ctx.store("s")
    store.put(b"a", b"1")
    ctx.succeed()
    store.put(b"a", b"2")
    store.put(b"a", b"3")
    store.delete(b"a")
    store.put(b"b", b"x")
    ctx.emit("out", b"a", b"3")
    ctx.rollback()
    assert dict(store.items()) == {b"a": b"1"}
    assert ctx.emits == []
    assert registry.stores["s"][0].inner.pending() == [(b"a", b"1")]


def test_writes_between_records_are_not_undone_by_the_next_record() -> None:
    ctx, registry = _context()
    ctx.start(1)
    registry.stores["s"][1].put(b"punctuated", b"p")  # as a punctuation would, between batches
    ctx.start(1)
    ctx.store("s").put(b"record", b"r")
    ctx.rollback()
    assert dict(ctx.store("s").items()) == {b"punctuated": b"p"}


def test_commit_keeps_writes_and_forgets_their_undo() -> None:
    ctx, registry = _context()
    ctx.start(0)
    store = ctx.store("s")
    store.put(b"a", b"1")  # the record's log is not emptied: commit must forget it
    registry.stores["s"][0].inner.commit(None)
    ctx.rollback()
    assert dict(store.items()) == {b"a": b"1"}


def test_a_store_of_an_unassigned_partition_is_a_clear_error() -> None:
    ctx, _ = _context()
    ctx.start(5)
    with pytest.raises(StoreNotAssigned, match="partition 5"):
        ctx.store("s")
