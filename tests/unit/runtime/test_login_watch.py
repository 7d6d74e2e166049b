"""A refused Kafka login is remembered as one clear ConfigError; other client errors are not."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from orderstream.config import SecuritySettings, Settings
from orderstream.errors import ConfigError
from orderstream.runtime.clients import LoginWatch


def _watch() -> LoginWatch:
    security = SecuritySettings(protocol="SASL_SSL", username="analytics", password="secret-pw")
    return LoginWatch(Settings(bootstrap_servers="127.0.0.1:1", security=security), "analytics")


def test_a_refused_login_becomes_a_config_error_naming_the_principal() -> None:
    watch = _watch()
    watch.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    watch.raise_if_refused()  # a broker outage is not a configuration error
    watch.on_error(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: invalid"))
    watch.on_error(KafkaError(KafkaError._SSL, "a second failure is not reported again"))
    with pytest.raises(ConfigError) as refused:
        watch.raise_if_refused()
    message = str(refused.value)
    assert "principal 'analytics'" in message and "security.password_file" in message
    assert "SASL authentication error" in message and "second" not in message
    assert "secret-pw" not in message


def test_a_failed_tls_handshake_is_a_refused_login() -> None:
    watch = _watch()
    watch.on_error(KafkaError(KafkaError._TRANSPORT, "SSL handshake failed: certificate verify"))
    with pytest.raises(ConfigError):
        watch.raise_if_refused()
