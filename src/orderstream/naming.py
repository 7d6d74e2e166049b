"""A pipeline copy's names: one prefix (``Settings.prefix``, ``ORDERSTREAM_PREFIX``) on every
topic, consumer group and transactional id, the way Kafka Streams' ``application.id`` works."""

from __future__ import annotations

# Kafka's legal topic characters; a prefix leaves room for the longest pipeline name
# (``payments-outcomes-changelog.dlq``-sized) under Kafka's 249-character limit.
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
PREFIX_MAX = 200


def check_prefix(value: str) -> str:
    """A valid pipeline prefix, or ValueError naming what is wrong with it."""
    bad = sorted(set(value) - _PREFIX_CHARS)
    if bad:
        raise ValueError(
            f"prefix {value!r} has characters Kafka refuses in topic names ({''.join(bad)!r}); "
            "use only letters, digits, '.', '_' and '-' (for example ORDERSTREAM_PREFIX=blue.)"
        )
    if len(value) > PREFIX_MAX:
        raise ValueError(f"prefix is {len(value)} characters long; at most {PREFIX_MAX}")
    return value


def prefixed(prefix: str, name: str) -> str:
    """The one place a pipeline name gets its copy's prefix (topics, groups, transactional ids).

    Registry subjects follow (TopicNameStrategy: ``<prefix><topic>-value``); the registry's own
    ``_schemas`` topic is the registry's setting and never takes the prefix.
    """
    return prefix + name
