"""Typed settings, and the one place that turns them into librdkafka configurations.

Settings come from ``ORDERSTREAM_*`` environment variables (nested with ``__``, for example
``ORDERSTREAM_SECURITY__PROTOCOL=SASL_SSL``) and from an optional ``orderstream.toml`` found in
the working directory or named by ``ORDERSTREAM_CONFIG``. Environment variables win.

Secrets are ``SecretStr``: they come from the environment or from a file
(``security.password_file``) and are never printed, logged or put in argv.
Unknown keys are rejected, in the toml file and in the environment alike.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from orderstream.errors import ConfigError

ENV_PREFIX = "ORDERSTREAM_"
# Variables read by other parts (tests, CLI) that are not settings fields.
_ENV_NOT_SETTINGS = frozenset({"ORDERSTREAM_CONFIG", "ORDERSTREAM_TEST_BOOTSTRAP"})

KafkaValue = str | int | float | bool
KafkaConfig = dict[str, KafkaValue]


class Role(StrEnum):
    """What a librdkafka client is used for; each role gets its own tuning."""

    PRODUCER = "producer"
    TRANSACTIONAL_PRODUCER = "transactional_producer"
    CONSUMER = "consumer"
    ADMIN = "admin"


class SecuritySettings(BaseModel):
    """How clients authenticate to Kafka. The local cluster is PLAINTEXT."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> SecuritySettings:
        if self.protocol.startswith("SASL") and not self.username:
            raise ValueError(f"security.protocol={self.protocol} needs security.username")
        if self.protocol.startswith("SASL") and not (self.password or self.password_file):
            raise ValueError(
                f"security.protocol={self.protocol} needs security.password "
                "(ORDERSTREAM_SECURITY__PASSWORD) or security.password_file"
            )
        return self

    def resolved_password(self) -> str | None:
        """The password, read from its file when one is named."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read security.password_file {self.password_file}: {exc.strerror}"
                ) from exc
        return None


def _default_home() -> Path:
    """``var/`` in a source checkout, else a per-user data directory."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "var"
    return Path.home() / ".local" / "share" / "orderstream"


class Settings(BaseSettings):
    """Every setting of orderstream, with its default on one machine."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    home: Path = Field(default_factory=_default_home)
    kafka_cache: Path | None = None
    bootstrap_servers: str = "127.0.0.1:9092"
    registry_url: str = "http://127.0.0.1:8081"
    registry_user: str | None = None
    registry_password: SecretStr | None = None
    client_id_prefix: str = "orderstream"
    security: SecuritySettings = SecuritySettings()
    librdkafka: dict[str, KafkaValue] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def cache_dir(self) -> Path:
        """Where downloaded artifacts (Kafka jars) live."""
        if self.kafka_cache is not None:
            return self.kafka_cache
        if "ORDERSTREAM_HOME" in os.environ:
            return self.home / "cache"
        return Path.home() / ".cache" / "orderstream"


def _config_file() -> Path | None:
    named = os.environ.get("ORDERSTREAM_CONFIG")
    if named:
        return Path(named)
    local = Path.cwd() / "orderstream.toml"
    return local if local.is_file() else None


def _check_unknown_env(environ: Mapping[str, str]) -> None:
    known = {name.upper() for name in Settings.model_fields}
    for key in environ:
        if not key.startswith(ENV_PREFIX) or key in _ENV_NOT_SETTINGS:
            continue
        field = key[len(ENV_PREFIX) :].split("__", 1)[0]
        if field not in known:
            raise ConfigError(
                f"unknown setting {key}; known settings are "
                + ", ".join(sorted(ENV_PREFIX + k for k in known))
            )


def _check_toml(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation failures into one readable ConfigError."""
    _check_unknown_env(os.environ)
    toml_path = _config_file()
    if toml_path is not None:
        _check_toml(toml_path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


_ROLE_DEFAULTS: dict[Role, KafkaConfig] = {
    Role.PRODUCER: {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": 30000,
    },
    Role.TRANSACTIONAL_PRODUCER: {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        # message.timeout.ms must stay below transaction.timeout.ms (exactly-once rules).
        "transaction.timeout.ms": 60000,
        "message.timeout.ms": 30000,
    },
    Role.CONSUMER: {
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.partition.eof": False,
    },
    Role.ADMIN: {},
}


def _security_config(security: SecuritySettings) -> KafkaConfig:
    conf: KafkaConfig = {"security.protocol": security.protocol}
    if security.protocol.startswith("SASL"):
        conf["sasl.mechanism"] = security.sasl_mechanism
        conf["sasl.username"] = security.username or ""
        conf["sasl.password"] = security.resolved_password() or ""
    if security.ca_file is not None and security.protocol in ("SSL", "SASL_SSL"):
        conf["ssl.ca.location"] = str(security.ca_file)
    return conf


def kafka_config(
    role: Role,
    client_id: str,
    *,
    settings: Settings | None = None,
    group_id: str | None = None,
    transactional_id: str | None = None,
    overrides: Mapping[str, KafkaValue] | None = None,
) -> KafkaConfig:
    """The librdkafka configuration for one client of the given role.

    Layers, later wins: role defaults, security, ``settings.librdkafka``, ``overrides``.
    """
    settings = settings or load_settings()
    conf: KafkaConfig = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.client_id_prefix}-{client_id}",
    }
    conf.update(_ROLE_DEFAULTS[role])
    conf.update(_security_config(settings.security))
    if role is Role.CONSUMER:
        if not group_id:
            raise ConfigError("a consumer configuration needs a group_id")
        conf["group.id"] = group_id
    if role is Role.TRANSACTIONAL_PRODUCER:
        if not transactional_id:
            raise ConfigError("a transactional producer configuration needs a transactional_id")
        conf["transactional.id"] = transactional_id
    conf.update(settings.librdkafka)
    conf.update(overrides or {})
    return conf


def redacted(conf: Mapping[str, KafkaValue]) -> dict[str, KafkaValue]:
    """A copy of a librdkafka configuration that is safe to log."""
    return {k: ("***" if "password" in k or "secret" in k else v) for k, v in conf.items()}
