"""Principals and ACLs as code: ``[principals.<name>]`` in topology.toml -> a plan -> changes.

Each principal lists what it may use; every list item is a resource name, and a name ending in
``*`` is a prefix (a PREFIXED pattern):

- ``reads``: READ on topics; ``writes``: WRITE on topics;
- ``groups``: READ on consumer groups (joining, committing, ``send_offsets_to_transaction``);
- ``describe_groups``: DESCRIBE on groups (reading another app's committed offsets);
- ``transactional_ids``: WRITE on transactional ids.

Kafka implies DESCRIBE from READ and WRITE, so metadata and offsets need no grant of their own,
and idempotent producers need no cluster grant (KIP-679). Every grant is ALLOW from any host.
The plan is the difference between the declared grants and the cluster's: missing ones are
created, grants the manifest no longer declares are revoked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from orderstream.errors import ConfigError, PlatformError
from orderstream.platform.topology import read_topology_file

_KINDS: dict[str, tuple[ResourceType, AclOperation]] = {
    "reads": (ResourceType.TOPIC, AclOperation.READ),
    "writes": (ResourceType.TOPIC, AclOperation.WRITE),
    "groups": (ResourceType.GROUP, AclOperation.READ),
    "describe_groups": (ResourceType.GROUP, AclOperation.DESCRIBE),
    "transactional_ids": (ResourceType.TRANSACTIONAL_ID, AclOperation.WRITE),
}
_PRINCIPAL_KEYS = frozenset({*_KINDS, "description"})
_TIMEOUT_S = 30.0


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL: ``principal`` may ``operation`` on ``resource_type`` ``name``."""

    principal: str  # the user name, without "User:"
    resource_type: str  # TOPIC, GROUP, TRANSACTIONAL_ID
    name: str
    prefixed: bool
    operation: str  # READ, WRITE, DESCRIBE

    @property
    def resource(self) -> str:
        return f"{self.resource_type.lower()}:{self.name}{'*' if self.prefixed else ''}"

    def line(self) -> str:
        return f"User:{self.principal} {self.operation} {self.resource}"

    def binding(self) -> AclBinding:
        return AclBinding(
            ResourceType[self.resource_type],
            self.name,
            ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL,
            f"User:{self.principal}",
            "*",
            AclOperation[self.operation],
            AclPermissionType.ALLOW,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "resource_type": self.resource_type,
            "resource": self.name,
            "pattern": "PREFIXED" if self.prefixed else "LITERAL",
            "operation": self.operation,
        }


@dataclass(frozen=True)
class Principal:
    name: str
    description: str
    grants: frozenset[Grant]


def load_principals(path: Path) -> dict[str, Principal]:
    """The ``[principals.<name>]`` tables of a topology file."""
    data = read_topology_file(path)
    tables = data.get("principals", {})
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"topology {path} declares no [principals.<name>] tables")
    return {name: _principal(name, body, path) for name, body in tables.items()}


def _principal(name: str, body: Any, path: Path) -> Principal:
    if not isinstance(body, dict):
        raise ConfigError(f"topology {path}: principals.{name} must be a table")
    unknown = set(body) - _PRINCIPAL_KEYS
    if unknown:
        raise ConfigError(
            f"topology {path}: principal {name} has unknown keys {sorted(unknown)}; "
            f"known: {sorted(_PRINCIPAL_KEYS)}"
        )
    grants: set[Grant] = set()
    for kind, (rtype, op) in _KINDS.items():
        items = body.get(kind, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ConfigError(f"topology {path}: principals.{name}.{kind} must list names")
        for item in items:
            # "*" alone is Kafka's wildcard (every resource), a LITERAL pattern.
            prefixed = item.endswith("*") and item != "*"
            grants.add(
                Grant(
                    name,
                    rtype.name,
                    item.removesuffix("*") if prefixed else item,
                    prefixed,
                    op.name,
                )
            )
    return Principal(name, str(body.get("description", "")), frozenset(grants))


def declared_grants(principals: dict[str, Principal]) -> set[Grant]:
    return {g for p in principals.values() for g in p.grants}


@dataclass
class AclPlan:
    create: list[Grant] = field(default_factory=list)
    revoke: list[Grant] = field(default_factory=list)
    # ACLs this tool does not manage (DENY, a host other than "*", a non-User principal):
    # listed, never touched.
    foreign: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.revoke)

    def lines(self) -> list[str]:
        out = [f"+ allow {g.line()}" for g in self.create]
        out += [f"- revoke {g.line()}" for g in self.revoke]
        out += [f"= not managed: {f}" for f in self.foreign]
        return out


def make_plan(declared: set[Grant], current: set[Grant], foreign: list[str]) -> AclPlan:
    return AclPlan(
        create=sorted(declared - current), revoke=sorted(current - declared), foreign=foreign
    )


def _enum_name(value: object) -> str:
    return value.name if isinstance(value, Enum) else str(value)


def _from_binding(b: AclBinding) -> Grant | None:
    managed = (
        b.permission_type == AclPermissionType.ALLOW
        and b.host == "*"
        and b.principal.startswith("User:")
        and _enum_name(b.restype) in ("TOPIC", "GROUP", "TRANSACTIONAL_ID")
        and b.resource_pattern_type in (ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED)
    )
    if not managed:
        return None
    return Grant(
        b.principal.removeprefix("User:"),
        _enum_name(b.restype),
        b.name,
        b.resource_pattern_type == ResourcePatternType.PREFIXED,
        _enum_name(b.operation),
    )


def current_grants(admin: AdminClient) -> tuple[set[Grant], list[str]]:
    """The cluster's ACLs: the ones this tool manages, and a description of the others."""
    # None matches any name, principal and host (the stubs say str; librdkafka takes NULL).
    every = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    try:
        bindings = admin.describe_acls(every, request_timeout=_TIMEOUT_S).result(_TIMEOUT_S + 5)
    except KafkaException as exc:
        raise PlatformError(
            f"cannot list ACLs ({exc.args[0]}); is the cluster secured (kafka up --secure) "
            "and are you the admin principal?"
        ) from exc
    managed: set[Grant] = set()
    foreign: list[str] = []
    for binding in bindings:
        grant = _from_binding(binding)
        if grant is None:
            foreign.append(str(binding))
        else:
            managed.add(grant)
    return managed, sorted(foreign)


def plan_acls(admin: AdminClient, principals: dict[str, Principal]) -> AclPlan:
    current, foreign = current_grants(admin)
    return make_plan(declared_grants(principals), current, foreign)


def apply_acls(admin: AdminClient, plan: AclPlan) -> None:
    """Create the missing grants, then revoke the undeclared ones."""
    if plan.create:
        futures = admin.create_acls([g.binding() for g in plan.create], request_timeout=_TIMEOUT_S)
        _wait_all(futures.values(), "create ACLs")
    if plan.revoke:
        filters = [_exact_filter(g) for g in plan.revoke]
        deleted = admin.delete_acls(filters, request_timeout=_TIMEOUT_S)
        _wait_all(deleted.values(), "revoke ACLs")


def _exact_filter(grant: Grant) -> AclBindingFilter:
    b = grant.binding()
    return AclBindingFilter(
        b.restype,
        b.name,
        b.resource_pattern_type,
        b.principal,
        b.host,
        b.operation,
        b.permission_type,
    )


def _wait_all(futures: Any, what: str) -> None:
    for future in futures:
        try:
            future.result(_TIMEOUT_S + 5)
        except KafkaException as exc:
            raise PlatformError(f"cannot {what}: {exc.args[0]}") from exc


def matrix(principals: dict[str, Principal]) -> list[tuple[str, str, str]]:
    """(principal, resource, operations) rows, sorted: the security manifest."""
    rows: dict[tuple[str, str], set[str]] = {}
    for grant in declared_grants(principals):
        rows.setdefault((grant.principal, grant.resource), set()).add(grant.operation)
    return [(p, r, ",".join(sorted(ops))) for (p, r), ops in sorted(rows.items())]
