from __future__ import annotations

from pathlib import Path

import pytest

from orderstream.config import Role, kafka_config, load_settings, redacted
from orderstream.errors import ConfigError


def test_env_and_toml_layers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "orderstream.toml"
    toml.write_text('bootstrap_servers = "10.0.0.1:9092"\nclient_id_prefix = "shop"\n')
    monkeypatch.setenv("ORDERSTREAM_CONFIG", str(toml))
    monkeypatch.setenv("ORDERSTREAM_BOOTSTRAP_SERVERS", "127.0.0.1:1234")
    settings = load_settings()
    assert settings.bootstrap_servers == "127.0.0.1:1234"  # the environment wins
    assert settings.client_id_prefix == "shop"


def test_unknown_env_key_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSTREAM_BOOTSTRAP", "x")
    with pytest.raises(ConfigError, match="unknown setting ORDERSTREAM_BOOTSTRAP"):
        load_settings()


def test_unknown_toml_key_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "o.toml"
    toml.write_text('bootstrap = "x"\n')
    monkeypatch.setenv("ORDERSTREAM_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="bootstrap"):
        load_settings()


def test_broken_toml_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "o.toml"
    toml.write_text("bootstrap_servers = \n")
    monkeypatch.setenv("ORDERSTREAM_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_roles_get_their_guarantees(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(bootstrap_servers="127.0.0.1:9")
    prod = kafka_config(Role.PRODUCER, "orders", settings=settings)
    assert prod["acks"] == "all" and prod["enable.idempotence"] is True
    assert prod["client.id"] == "orderstream-orders"
    cons = kafka_config(Role.CONSUMER, "c", settings=settings, group_id="g")
    assert cons["isolation.level"] == "read_committed"
    assert cons["enable.auto.commit"] is False
    assert cons["partition.assignment.strategy"] == "cooperative-sticky"
    txn = kafka_config(Role.TRANSACTIONAL_PRODUCER, "e", settings=settings, transactional_id="e-1")
    assert int(txn["message.timeout.ms"]) < int(txn["transaction.timeout.ms"])
    with pytest.raises(ConfigError, match="group_id"):
        kafka_config(Role.CONSUMER, "c", settings=settings)


def test_sasl_password_from_file_and_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("ORDERSTREAM_SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ORDERSTREAM_SECURITY__USERNAME", "enrichment")
    monkeypatch.setenv("ORDERSTREAM_SECURITY__PASSWORD_FILE", str(secret))
    monkeypatch.setenv("ORDERSTREAM_SECURITY__CA_FILE", "/etc/ca.pem")
    settings = load_settings()
    conf = kafka_config(Role.ADMIN, "admin", settings=settings)
    assert conf["sasl.password"] == "s3cret"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["ssl.ca.location"] == "/etc/ca.pem"
    assert "s3cret" not in repr(settings)
    assert redacted(conf)["sasl.password"] == "***"


def test_sasl_without_password_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSTREAM_SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ORDERSTREAM_SECURITY__USERNAME", "u")
    with pytest.raises(ConfigError, match="needs security.password"):
        load_settings()


def test_compression_default_role_and_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(bootstrap_servers="127.0.0.1:9")
    assert kafka_config(Role.PRODUCER, "p", settings=settings)["compression.type"] == "lz4"
    assert "compression.type" not in kafka_config(
        Role.CONSUMER, "c", settings=settings, group_id="g"
    )
    monkeypatch.setenv("ORDERSTREAM_COMPRESSION__DEFAULT", "zstd")
    monkeypatch.setenv("ORDERSTREAM_COMPRESSION__ROLES", '{"transactional_producer": "none"}')
    monkeypatch.setenv("ORDERSTREAM_COMPRESSION__TOPICS", '{"enriched-orders": "gzip", "x": "lz4"}')
    settings = load_settings()
    txn = kafka_config(Role.TRANSACTIONAL_PRODUCER, "e", settings=settings, transactional_id="t")
    assert txn["compression.type"] == "none"  # the role
    assert kafka_config(Role.PRODUCER, "p", settings=settings)["compression.type"] == "zstd"
    on_topic = kafka_config(Role.PRODUCER, "p", settings=settings, topics=["enriched-orders"])
    assert on_topic["compression.type"] == "gzip"  # the topic wins over role and default
    # Topics that disagree get the most widely readable codec of theirs.
    both = kafka_config(Role.PRODUCER, "p", settings=settings, topics=["x", "enriched-orders"])
    assert both["compression.type"] == "gzip"


def test_unknown_codec_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSTREAM_COMPRESSION__DEFAULT", "brotli")
    with pytest.raises(ConfigError, match="compression.default"):
        load_settings()


def test_kafka_cache_stays_put_when_home_moves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORDERSTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ORDERSTREAM_KAFKA_CACHE", raising=False)
    assert load_settings().cache_dir == Path.home() / ".cache" / "orderstream"
    monkeypatch.setenv("ORDERSTREAM_KAFKA_CACHE", str(tmp_path / "jars"))
    assert load_settings().cache_dir == tmp_path / "jars"


def test_librdkafka_info_logs_are_off_unless_asked() -> None:
    settings = load_settings(bootstrap_servers="127.0.0.1:9")
    assert kafka_config(Role.ADMIN, "a", settings=settings)["log_level"] == 4
    loud = load_settings(bootstrap_servers="127.0.0.1:9", librdkafka={"log_level": 7})
    assert kafka_config(Role.ADMIN, "a", settings=loud)["log_level"] == 7


def test_authlib_httpx_warning_is_silenced_and_only_it() -> None:
    import subprocess
    import sys

    code = (
        "import warnings, orderstream.config, authlib.integrations.httpx_client\n"
        "warnings.warn('still shown', UserWarning)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "httpx module is deprecated" not in done.stderr
    assert "still shown" in done.stderr
