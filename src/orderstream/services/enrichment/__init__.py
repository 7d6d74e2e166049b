"""Enrichment: re-key orders by product, reserve stock exactly once, emit EnrichedOrder."""
