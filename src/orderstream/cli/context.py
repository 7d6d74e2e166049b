"""What every command needs: settings, the local cluster's home, and the bootstrap to use."""

from __future__ import annotations

from pathlib import Path

from orderstream.config import Settings, load_settings
from orderstream.platform.cluster import load_spec


def cluster_home(settings: Settings) -> Path:
    return settings.home / "kafka"


def effective_settings() -> Settings:
    """Settings whose bootstrap is the local cluster's when none was configured explicitly."""
    settings = load_settings()
    if "bootstrap_servers" in settings.model_fields_set:
        return settings
    spec = load_spec(cluster_home(settings))
    if spec is None:
        return settings
    return settings.model_copy(update={"bootstrap_servers": spec.bootstrap})
