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
import warnings
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from orderstream.errors import ConfigError
from orderstream.naming import check_prefix, prefixed

ENV_PREFIX = "ORDERSTREAM_"
# Variables read by other parts (tests, CLI) that are not settings fields.
_ENV_NOT_SETTINGS = frozenset({"ORDERSTREAM_CONFIG", "ORDERSTREAM_TEST_BOOTSTRAP"})

KafkaValue = str | int | float | bool
KafkaConfig = dict[str, KafkaValue]

# librdkafka keys whose values are secrets (passwords, keys, JAAS lines, OAuth secrets).
_SECRET_KEY_PARTS = ("password", "secret", "sasl.jaas", "ssl.key.pem", "ssl_key", "private")


def is_secret_key(key: str) -> bool:
    """True for a librdkafka key whose value must never reach a log, a repr or argv."""
    lowered = key.lower()
    return any(part in lowered for part in _SECRET_KEY_PARTS)


def _silence_authlib_httpx_warning() -> None:
    """Hide the one warning authlib prints when confluent_kafka.schema_registry imports it.

    authlib warns at import that its httpx fallback is deprecated (it wants httpx2, which
    confluent-kafka does not use): nothing our users can act on. authlib.deprecate installs an
    "always" filter for its warnings when imported, so it is imported first (under 1 ms) and
    this narrower filter, on that message from authlib only, goes in front of it.
    """
    try:
        import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return
    warnings.filterwarnings(
        "ignore", message=r"The httpx module is deprecated", module=r"authlib\."
    )


_silence_authlib_httpx_warning()


class Role(StrEnum):
    """What a librdkafka client is used for; each role gets its own tuning."""

    PRODUCER = "producer"
    TRANSACTIONAL_PRODUCER = "transactional_producer"
    CONSUMER = "consumer"
    ADMIN = "admin"


Codec = Literal["none", "gzip", "snappy", "lz4", "zstd"]

# Most widely readable first: a topic read by several ecosystems gets the earliest codec they
# share. kafkajs reads only none and gzip without plugins; librdkafka and Java read all five.
CODEC_REACH: tuple[Codec, ...] = ("none", "gzip", "snappy", "lz4", "zstd")


class CompressionSettings(BaseModel):
    """Which codec producers use: per topic, else per role, else the default.

    The default is the one measured best with ``orderstream bench runtime`` on this machine
    (see the README's Compression section for the figures). ``topics`` is for outputs read by
    clients that lack a codec (kafkajs reads only gzip without plugins).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Codec = "lz4"
    roles: dict[Role, Codec] = Field(default_factory=dict)
    topics: dict[str, Codec] = Field(default_factory=dict)

    def codec_for(self, role: Role, topics: Iterable[str] = ()) -> Codec:
        """The codec of a producer of ``role`` that writes ``topics`` (if it says which).

        Topics with a codec of their own override the role; when they disagree, the most
        widely readable wins, since a reader that cannot decode a batch stops while a weaker
        codec only costs bytes.
        """
        chosen = [self.topics[t] for t in topics if t in self.topics]
        if chosen:
            return min(chosen, key=CODEC_REACH.index)
        return self.roles.get(role, self.default)


class SecuritySettings(BaseModel):
    """How clients authenticate to Kafka. The local cluster is PLAINTEXT unless started with
    ``--secure`` (SASL_SSL, SCRAM-SHA-512, ``ca_file`` the local CA; ``platform/secure.py``).

    ``password_file`` is how the secured stack hands a service its password: the path travels in
    the environment, the password never does."""

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
    # The secured stack hands a service its registry password by path (serde/client.py reads it).
    registry_password_file: Path | None = None
    client_id_prefix: str = "orderstream"
    # The name of this copy of the pipeline (like Kafka Streams' application.id): it prefixes
    # every topic, consumer group and transactional.id, so two copies share one cluster and one
    # registry. "" (the default) is the unprefixed names. See ``prefixed``.
    prefix: str = ""
    security: SecuritySettings = SecuritySettings()
    compression: CompressionSettings = CompressionSettings()
    # Pass-through librdkafka settings. Secret keys (is_secret_key) are held as SecretStr, so
    # repr(settings) and logs show "**********"; kafka_config unwraps them.
    librdkafka: dict[str, KafkaValue | SecretStr] = Field(default_factory=dict)

    @field_validator("librdkafka", mode="after")
    @classmethod
    def _hide_secrets(cls, value: dict[str, KafkaValue | SecretStr]) -> dict[str, Any]:
        return {
            k: SecretStr(str(v)) if is_secret_key(k) and not isinstance(v, SecretStr) else v
            for k, v in value.items()
        }

    @field_validator("prefix", mode="after")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        return check_prefix(value)

    def named(self, name: str) -> str:
        """``name`` (a topic, group or transactional.id) in this copy of the pipeline."""
        return prefixed(self.prefix, name)

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
        """Where downloaded artifacts (Kafka jars) live.

        Not under ``home``: a new home (a test, a second stack) must not download Kafka again.
        """
        if self.kafka_cache is not None:
            return self.kafka_cache
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
        "message.timeout.ms": 30000,
    },
    Role.TRANSACTIONAL_PRODUCER: {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
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


# librdkafka logs at level 6 (info) by default, straight to stderr: lines such as
# "%6|...|BGQUEUE|..." then land in the middle of CLI output. Warnings and errors still show;
# settings.librdkafka can raise it again (log_level 7 with "debug" to trace a client).
_LOG_LEVEL_WARNING = 4


def kafka_config(
    role: Role,
    client_id: str,
    *,
    settings: Settings | None = None,
    group_id: str | None = None,
    transactional_id: str | None = None,
    topics: Iterable[str] = (),
    overrides: Mapping[str, KafkaValue] | None = None,
) -> KafkaConfig:
    """The librdkafka configuration for one client of the given role.

    Layers, later wins: role defaults, compression (by ``settings.compression``, for the
    ``topics`` a producer says it writes), security, ``settings.librdkafka``, ``overrides``.
    """
    settings = settings or load_settings()
    conf: KafkaConfig = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.client_id_prefix}-{client_id}",
        "log_level": _LOG_LEVEL_WARNING,
    }
    conf.update(_ROLE_DEFAULTS[role])
    if role in (Role.PRODUCER, Role.TRANSACTIONAL_PRODUCER):
        conf["compression.type"] = settings.compression.codec_for(role, topics)
    conf.update(_security_config(settings.security))
    if role is Role.CONSUMER:
        if not group_id:
            raise ConfigError("a consumer configuration needs a group_id")
        conf["group.id"] = group_id
    if role is Role.TRANSACTIONAL_PRODUCER:
        if not transactional_id:
            raise ConfigError("a transactional producer configuration needs a transactional_id")
        conf["transactional.id"] = transactional_id
    conf.update(
        {
            k: v.get_secret_value() if isinstance(v, SecretStr) else v
            for k, v in settings.librdkafka.items()
        }
    )
    conf.update(overrides or {})
    return conf


def redacted(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a librdkafka configuration that is safe to log (callbacks kept as they are)."""
    return {k: ("***" if is_secret_key(k) else v) for k, v in conf.items()}
