"""Topology as code: ``topology.toml`` -> a plan -> idempotent AdminClient changes.

The plan is computed first, as pure data, from the desired topics and a snapshot of the
cluster. Refusals (fewer partitions, another replication factor) stop the whole apply before
anything changes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import ConfigError, PlatformError, TopologyError
from orderstream.naming import prefixed

_TOPIC_KEYS = frozenset({"partitions", "replication_factor", "config"})
# Topics of the schema registry, not of a pipeline copy: they keep their name under a prefix
# (the registry's own setting, ``--topic`` of ``orderstream registry``, names its log).
SHARED_TOPICS = frozenset({"_schemas"})


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


@dataclass(frozen=True)
class TopicState(TopicSpec):
    """What the cluster has for one topic: the fields of a spec, read back."""


@dataclass
class Plan:
    create: list[TopicSpec] = field(default_factory=list)
    add_partitions: list[tuple[str, int, int]] = field(default_factory=list)
    alter_configs: list[tuple[str, dict[str, tuple[str | None, str]]]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.add_partitions or self.alter_configs)

    def lines(self) -> list[str]:
        out = [
            f"+ create {t.name} (partitions={t.partitions}, rf={t.replication_factor}, "
            + ", ".join(f"{k}={v}" for k, v in sorted(t.config.items()))
            + ")"
            for t in self.create
        ]
        out += [f"~ {name}: partitions {old} -> {new}" for name, old, new in self.add_partitions]
        for name, changes in self.alter_configs:
            for key, (old, new) in sorted(changes.items()):
                out.append(f"~ {name}: {key} {old if old is not None else '(default)'} -> {new}")
        out += [f"! refused: {r}" for r in self.refusals]
        return out


def default_topology_path() -> Path:
    return Path(str(resources.files("orderstream.platform").joinpath("topology.toml")))


def read_topology_file(path: Path) -> dict[str, Any]:
    """The TOML tables of a topology file (topics here, principals in platform/acls.py)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read topology {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"topology {path} is not valid TOML: {exc}") from exc


def load_topology(path: Path, brokers: int, prefix: str = "") -> list[TopicSpec]:
    """Parse and validate a topology file for a cluster of ``brokers`` nodes.

    ``prefix`` (``Settings.prefix``) names the pipeline copy: every topic but the registry's
    (``SHARED_TOPICS``) takes it.
    """
    data = read_topology_file(path)
    unknown = set(data) - {"defaults", "topics", "principals"}  # principals: platform/acls.py
    if unknown:
        raise ConfigError(f"topology {path}: unknown sections {sorted(unknown)}")
    defaults = data.get("defaults", {})
    topics = data.get("topics", {})
    if not isinstance(topics, dict) or not topics:
        raise ConfigError(f"topology {path} defines no [topics.<name>] tables")
    return [
        _topic_spec(topic_name(prefix, name), body, defaults, brokers, path)
        for name, body in topics.items()
    ]


def topic_name(prefix: str, name: str) -> str:
    """The name under ``prefix`` of a topic that topology.toml declares."""
    return name if name in SHARED_TOPICS else prefixed(prefix, name)


def _topic_spec(
    name: str, body: dict[str, Any], defaults: dict[str, Any], brokers: int, path: Path
) -> TopicSpec:
    unknown = set(body) - _TOPIC_KEYS
    if unknown:
        raise ConfigError(f"topology {path}: topic {name} has unknown keys {sorted(unknown)}")
    partitions = int(body.get("partitions", defaults.get("partitions", 1)))
    rf = int(body.get("replication_factor", defaults.get("replication_factor", min(3, brokers))))
    if partitions < 1:
        raise ConfigError(f"topology {path}: topic {name} needs at least 1 partition")
    if not 1 <= rf <= brokers:
        raise ConfigError(
            f"topology {path}: topic {name} wants replication_factor={rf} "
            f"but the cluster has {brokers} broker(s)"
        )
    config = {str(k): str(v) for k, v in defaults.get("config", {}).items()}
    config.update({str(k): str(v) for k, v in body.get("config", {}).items()})
    config.setdefault("min.insync.replicas", str(max(1, rf - 1)))
    return TopicSpec(name=name, partitions=partitions, replication_factor=rf, config=config)


def make_plan(desired: list[TopicSpec], current: dict[str, TopicState]) -> Plan:
    """The changes that take ``current`` to ``desired``, and what must be refused."""
    plan = Plan()
    for topic in desired:
        have = current.get(topic.name)
        if have is None:
            plan.create.append(topic)
            continue
        if topic.partitions < have.partitions:
            plan.refusals.append(
                f"{topic.name}: cannot decrease partitions from {have.partitions} to "
                f"{topic.partitions} (Kafka never removes partitions; create a new topic instead)"
            )
        elif topic.partitions > have.partitions:
            plan.add_partitions.append((topic.name, have.partitions, topic.partitions))
        if topic.replication_factor != have.replication_factor:
            plan.refusals.append(
                f"{topic.name}: cannot change replication factor from "
                f"{have.replication_factor} to {topic.replication_factor} in place "
                "(use kafka-reassign-partitions)"
            )
        changes = {
            k: (have.config.get(k), v) for k, v in topic.config.items() if have.config.get(k) != v
        }
        if changes:
            plan.alter_configs.append((topic.name, changes))
    return plan


def admin_for(settings: Settings) -> AdminClient:
    return AdminClient(kafka_config(Role.ADMIN, "admin", settings=settings))


def cluster_snapshot(admin: AdminClient, names: list[str]) -> tuple[int, dict[str, TopicState]]:
    """The broker count and the state of those of ``names`` that exist."""
    try:
        meta = admin.list_topics(timeout=10)
    except KafkaException as exc:
        raise PlatformError(f"cannot reach Kafka to read the topology: {exc}") from exc
    existing = [n for n in names if n in meta.topics]
    configs: dict[str, dict[str, str]] = {}
    if existing:
        resources_ = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in existing]
        for res, fut in admin.describe_configs(resources_, request_timeout=15).items():
            entries = fut.result(20)
            configs[res.name] = {k: e.value for k, e in entries.items() if e.value is not None}
    states = {}
    for name in existing:
        parts = meta.topics[name].partitions
        rf = len(next(iter(parts.values())).replicas) if parts else 0
        states[name] = TopicState(name, len(parts), rf, configs.get(name, {}))
    return len(meta.brokers), states


def apply_plan(admin: AdminClient, plan: Plan) -> None:
    """Carry out a plan that has no refusals."""
    if plan.refusals:
        raise TopologyError("; ".join(plan.refusals))
    if plan.create:
        new = [
            NewTopic(
                t.name,
                num_partitions=t.partitions,
                replication_factor=t.replication_factor,
                config=t.config,
            )
            for t in plan.create
        ]
        _wait_all(admin.create_topics(new, operation_timeout=30, request_timeout=30), "create")
    if plan.add_partitions:
        newp = [NewPartitions(name, new) for name, _, new in plan.add_partitions]
        _wait_all(
            admin.create_partitions(newp, operation_timeout=30, request_timeout=30),
            "add partitions to",
        )
    if plan.alter_configs:
        res = [
            ConfigResource(
                ConfigResource.Type.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(k, new, incremental_operation=AlterConfigOpType.SET)
                    for k, (_, new) in changes.items()
                ],
            )
            for name, changes in plan.alter_configs
        ]
        _wait_all(admin.incremental_alter_configs(res, request_timeout=30), "alter configs of")


def _wait_all(futures: dict[Any, Any], verb: str) -> None:
    errors = []
    for key, fut in futures.items():
        try:
            fut.result(60)
        except KafkaException as exc:
            errors.append(f"{verb} {getattr(key, 'name', key)}: {exc.args[0].str()}")
    if errors:
        raise PlatformError("; ".join(errors))


def plan_topology(settings: Settings, path: Path | None = None) -> tuple[AdminClient, Plan]:
    admin = admin_for(settings)
    path = path or default_topology_path()
    brokers, _ = cluster_snapshot(admin, [])
    desired = load_topology(path, brokers, settings.prefix)
    _, current = cluster_snapshot(admin, [t.name for t in desired])
    return admin, make_plan(desired, current)


def ensure_topic(settings: Settings, name: str, partitions: int) -> None:
    """Create one topic with defaults when it does not exist."""
    admin = admin_for(settings)
    brokers, current = cluster_snapshot(admin, [name])
    if name not in current:
        rf = min(3, brokers)
        spec = TopicSpec(name, partitions, rf, {"min.insync.replicas": str(max(1, rf - 1))})
        apply_plan(admin, Plan(create=[spec]))
