"""What the adapters over a ``TopicTable`` share: their client configurations, and what a
followed table shows of itself (assignment, failure, close)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping

from orderstream.config import KafkaConfig, KafkaValue, Role, Settings, kafka_config
from orderstream.errors import OrderstreamError
from orderstream.kafka.table import TopicTable


def reader_configs(
    settings: Settings,
    client: str,
    group_prefix: str,
    overrides: Mapping[str, KafkaValue] | None = None,
) -> tuple[KafkaConfig, KafkaConfig]:
    """(consumer, admin) configurations of a table's reader, with a group it never joins."""
    consumer = kafka_config(
        Role.CONSUMER,
        client,
        settings=settings,
        # never joined (we assign()); under the pipeline's prefix, so a copy's ACLs match it
        group_id=settings.named(f"{group_prefix}-{uuid.uuid4().hex[:8]}"),
        overrides=overrides,
    )
    return consumer, kafka_config(Role.ADMIN, client, settings=settings)


class FollowedTable:
    """What an adapter over a followed ``TopicTable`` shows of it: assignment, failure, close."""

    _table: TopicTable

    @property
    def assigned(self) -> threading.Event:
        return self._table.assigned

    @property
    def failure(self) -> OrderstreamError | None:
        """Why the reader stopped (a refused or missing topic), or None while it reads."""
        return self._table.failure

    def close(self) -> None:
        self._table.close()
