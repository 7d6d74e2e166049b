"""The runtime's producer takes the codec of the topics it writes (settings.compression.topics)."""

from __future__ import annotations

import pytest

from orderstream.config import load_settings
from orderstream.runtime import RuntimeConfig
from orderstream.runtime.clients import client_configs


@pytest.mark.parametrize("mode", ["exactly_once", "at_least_once"])
def test_output_topic_codec_reaches_the_runtime_producer(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("ORDERSTREAM_COMPRESSION__TOPICS", '{"enriched-orders": "gzip"}')
    settings = load_settings(bootstrap_servers="127.0.0.1:9")
    writes = RuntimeConfig(
        app_id="e",
        instance_id="a",
        mode=mode,
        output_topics=("orders-by-product", "enriched-orders"),
    )  # type: ignore[arg-type]
    assert client_configs(writes, settings).producer["compression.type"] == "gzip"
    silent = RuntimeConfig(app_id="e", instance_id="a", mode=mode)  # type: ignore[arg-type]
    assert client_configs(silent, settings).producer["compression.type"] == "lz4"
