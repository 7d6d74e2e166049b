"""What every command needs: settings, the local cluster's home, and the bootstrap to use."""

from __future__ import annotations

from pathlib import Path

from orderstream.config import Settings, load_settings
from orderstream.platform import secure
from orderstream.platform.cluster import load_spec


def cluster_home(settings: Settings) -> Path:
    return settings.home / "kafka"


def effective_settings(principal: str | None = None) -> Settings:
    """Settings whose bootstrap is the local cluster's when none was configured explicitly.

    On a secured local cluster (``kafka up --secure``) with no security configured, the client
    authenticates as ``principal`` (default: admin), its password read from its file; with no
    registry user configured, it talks to the registry over HTTPS as that principal too.
    """
    settings = load_settings()
    if "bootstrap_servers" in settings.model_fields_set:
        return settings
    spec = load_spec(cluster_home(settings))
    if spec is None:
        return settings
    update: dict[str, object] = {"bootstrap_servers": spec.bootstrap}
    if spec.secure_home is not None and "security" not in settings.model_fields_set:
        home = Path(spec.secure_home)
        update["security"] = secure.principal_security(home, principal or secure.ADMIN)
        if "registry_user" not in settings.model_fields_set:
            update.update(secure.registry_settings(home, principal or secure.ADMIN, settings))
    return settings.model_copy(update=update)


def stack_url(settings: Settings, url: str) -> str:
    """``url`` of a local HTTP endpoint, made ``https://`` when the local cluster is secured
    (``up --secure`` serves the orders API, registry and dashboard over HTTPS)."""
    spec = load_spec(cluster_home(settings))
    local = url.startswith(("http://127.0.0.1", "http://localhost"))
    if spec is None or spec.secure_home is None or not local:
        return url
    return secure.https_url(url)
