"""Wiring of one enrichment instance: serde, catalog, processor, and the EOS runtime."""

from __future__ import annotations

import logging
from typing import Any

from orderstream.config import Settings
from orderstream.runtime import RuntimeConfig, run_processor
from orderstream.serde import EventSerde
from orderstream.services.enrichment.catalog import ProductCatalog
from orderstream.services.enrichment.processor import (
    APP_ID,
    EnrichmentConfig,
    EnrichmentProcessor,
    EnrichmentTopics,
)
from orderstream.services.topics import ENRICHED_ORDERS, ORDERS_BY_PRODUCT, PRODUCTS

logger = logging.getLogger(__name__)


def enrichment_config(instance_id: str, **options: Any) -> RuntimeConfig:
    """One instance's runtime: ``options`` are RuntimeConfig's own (http_port, state_dir,
    commit_interval_ms...), its defaults for the rest."""
    # the outputs other clients read: their codec (settings.compression.topics) applies
    outputs = (ORDERS_BY_PRODUCT, ENRICHED_ORDERS)
    return RuntimeConfig(APP_ID, instance_id, output_topics=outputs, **options)


def run_enrichment(
    settings: Settings, config: RuntimeConfig, options: EnrichmentConfig | None = None
) -> None:
    """Run one instance until SIGTERM/SIGINT; the catalog is caught up before processing."""
    serde = EventSerde.from_settings(settings)
    catalog = ProductCatalog(settings, settings.named(PRODUCTS), serde.decode)
    topics = EnrichmentTopics().for_prefix(settings.prefix)
    try:
        catalog.start()
        catalog.wait_caught_up(timeout_s=120.0)
        logger.info(
            "catalog loaded",
            extra={"products": len(catalog), "instance_id": config.instance_id},
        )
        processor = EnrichmentProcessor(
            serde, catalog, options, topics=topics, writer_schema=serde.client.schema_by_id
        )
        run_processor(processor, config.for_prefix(settings.prefix), settings)
    finally:
        catalog.close()
        serde.close()
