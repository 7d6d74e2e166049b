"""The ACLs of one copy of the pipeline (``Settings.prefix``) on a cluster shared with others.

A copy's grants are the manifest's with every topic, group and transactional id under its
prefix, as LITERAL or PREFIXED patterns exactly as declared (``orders`` -> ``blue.orders``,
``enrichment-*`` -> ``blue.enrichment-*``). The principals stay the manifest's users: both
copies' services authenticate as ``orders``, ``enrichment``... What is shared is not prefixed:
Kafka's ``*`` wildcard, the registry's topic and the registry principal's grants.

The plan of one copy must not revoke another copy's grants, so a cluster grant that is a
declared grant under another prefix (same principal, operation, resource type and pattern;
its name ``<other prefix><declared name>``) is left out of the comparison: neither kept nor
revoked by this copy. Anything else undeclared is revoked, as without a prefix.
"""

from __future__ import annotations

from dataclasses import replace

from confluent_kafka.admin import AdminClient

from orderstream.naming import check_prefix, prefixed
from orderstream.platform.acls import (
    AclPlan,
    Grant,
    Principal,
    current_grants,
    declared_grants,
    make_plan,
)
from orderstream.platform.topology import SHARED_TOPICS

# The registry serves every copy (one ``_schemas``, one leader election group).
SHARED_PRINCIPALS = frozenset({"registry"})


def for_prefix(principals: dict[str, Principal], prefix: str) -> dict[str, Principal]:
    """The manifest's principals with their grants on the copy named ``prefix``."""
    if not prefix:
        return principals
    return {
        name: p
        if name in SHARED_PRINCIPALS
        else replace(p, grants=frozenset(_under(g, prefix) for g in p.grants))
        for name, p in principals.items()
    }


def _under(grant: Grant, prefix: str) -> Grant:
    wildcard = grant.name == "*" and not grant.prefixed
    if wildcard or grant.name in SHARED_TOPICS:
        return grant
    return replace(grant, name=prefixed(prefix, grant.name))


def other_copies(base: set[Grant], current: set[Grant], prefix: str) -> set[Grant]:
    """The grants of ``current`` that are a ``base`` grant under a prefix other than ours."""
    shapes: dict[tuple[str, str, bool, str], list[str]] = {}
    for g in base:
        shapes.setdefault((g.principal, g.resource_type, g.prefixed, g.operation), []).append(
            g.name
        )
    return {
        g
        for g in current
        if any(
            _other_prefix(g.name, name, prefix)
            for name in shapes.get((g.principal, g.resource_type, g.prefixed, g.operation), ())
        )
    }


def _other_prefix(name: str, declared: str, prefix: str) -> bool:
    if not name.endswith(declared):
        return False
    head = name[: len(name) - len(declared)]
    if head == prefix:
        return False
    try:
        check_prefix(head)
    except ValueError:
        return False
    return True


def plan_acls_for_prefix(
    admin: AdminClient, principals: dict[str, Principal], prefix: str
) -> AclPlan:
    """``plan_acls`` for the copy named ``prefix``, blind to the other copies' grants."""
    current, foreign = current_grants(admin)
    mine = declared_grants(for_prefix(principals, prefix))
    others = other_copies(declared_grants(principals), current, prefix) - mine
    return make_plan(mine, current - others, foreign)
