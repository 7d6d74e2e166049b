"""The _schemas record formats (byte-exact keys) and the state folded from them."""

from __future__ import annotations

import json

from orderstream.registry.keys import (
    config_key,
    decode_key,
    delete_subject_key,
    encode_value,
    noop_key,
    schema_key,
)
from orderstream.registry.state import RegistryState, SchemaVersion


def test_keys_are_compact_json_in_a_fixed_order() -> None:
    assert schema_key("a/b", 3) == b'{"keytype":"SCHEMA","subject":"a/b","version":3,"magic":1}'
    assert config_key("s") == b'{"keytype":"CONFIG","subject":"s","magic":0}'
    assert config_key(None) == b'{"keytype":"CONFIG","subject":null,"magic":0}'
    assert delete_subject_key("s") == b'{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}'
    assert noop_key() == b'{"keytype":"NOOP","magic":0}'


def test_keys_written_by_others_decode() -> None:
    spaced = b'{ "magic": 1, "keytype": "SCHEMA", "subject": "x", "version": 2 }'
    key = decode_key(spaced)
    assert key is not None and (key.keytype, key.subject, key.version) == ("SCHEMA", "x", 2)
    global_key = decode_key(b'{"keytype":"CONFIG","magic":0}')
    assert global_key is not None and global_key.subject is None
    assert decode_key(b"garbage") is None
    assert decode_key(b"[1]") is None


def _put(state: RegistryState, v: SchemaVersion) -> None:
    state.apply(schema_key(v.subject, v.version), encode_value(v.to_value()))


def test_fold_versions_deletes_and_levels() -> None:
    state = RegistryState()
    _put(state, SchemaVersion("s", 1, 1, '"string"'))
    _put(state, SchemaVersion("s", 2, 2, '"long"'))
    _put(state, SchemaVersion("t", 1, 1, '"string"'))  # same schema, same id elsewhere
    state.apply(config_key("s"), encode_value({"compatibilityLevel": "full"}))
    state.apply(config_key(None), encode_value({"compatibilityLevel": "NONE"}))
    assert [v.version for v in state.versions("s")] == [1, 2]
    assert state.level("s") == "FULL" and state.effective_level("t") == "NONE"

    state.apply(delete_subject_key("s"), encode_value({"subject": "s", "version": 2}))
    assert state.versions("s") == []
    assert len(state.versions("s", include_deleted=True)) == 2

    state.apply(schema_key("s", 2), None)  # hard delete of version 2: id 2 is gone...
    assert 2 not in state.by_id
    assert state.max_id == 2  # ...but never reused
    state.apply(config_key("s"), None)
    assert state.level("s") is None
    state.apply(schema_key("s", 1), None)
    assert state.by_id[1].subject == "t"  # still used by t


def test_value_format_matches_the_reference() -> None:
    value = json.loads(encode_value(SchemaVersion("s", 1, 7, '"int"').to_value()))
    assert value == {"subject": "s", "version": 1, "id": 7, "schema": '"int"', "deleted": False}
    state = RegistryState()
    state.apply(noop_key(), None)
    state.apply(b"not json", b"x")
    assert state.subjects == {}
