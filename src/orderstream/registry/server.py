"""Compose the registry: state, store, election, service, HTTP app; run it under uvicorn."""

from __future__ import annotations

import faulthandler
import logging
from pathlib import Path

import uvicorn

from orderstream.config import Settings
from orderstream.registry.auth import Authenticator, load_users
from orderstream.registry.election import PrimaryElection
from orderstream.registry.forward import Forwarder
from orderstream.registry.http import RegistryApp
from orderstream.registry.routes import build_router
from orderstream.registry.service import RegistryService
from orderstream.registry.state import RegistryState
from orderstream.registry.store import SchemaStore
from orderstream.tls import ServerTls, client_context

logger = logging.getLogger(__name__)

DEFAULT_TOPIC = "_schemas"


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    topic: str = DEFAULT_TOPIC,
    auth_file: Path | None = None,
    advertised_url: str | None = None,
    tls: ServerTls | None = None,
    ca_file: Path | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; answers 503 until ``topic`` was read to its end.

    With ``tls`` it serves HTTPS only; ``ca_file`` (default: ``security.ca_file``) verifies
    the primary's certificate when this instance forwards a write.
    """
    faulthandler.enable(all_threads=True)  # a native crash leaves its stacks in the log
    auth = Authenticator(load_users(auth_file)) if auth_file is not None else None
    verify = client_context(ca_file or settings.security.ca_file)
    state = RegistryState()
    store = SchemaStore(settings, topic, state)
    scheme = "https" if tls is not None else "http"
    url = (
        advertised_url or f"{scheme}://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    )
    election = PrimaryElection(settings, topic, url)
    store.start()
    election.start()
    service = RegistryService(state, store, election)

    def shutdown() -> None:
        election.close()  # leaves the group: another instance becomes primary at once
        store.close()

    app = RegistryApp(
        service,
        build_router(service),
        auth=auth,
        on_shutdown=shutdown,
        forwarder=Forwarder(election, verify=verify),
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        lifespan="on",
        ssl_certfile=tls.certfile if tls else None,
        ssl_keyfile=tls.keyfile if tls else None,
    )
    logger.info(
        "registry starting",
        extra={
            "url": url,
            "topic": topic,
            "auth": auth is not None,
            "kafka_user": _principal(settings),
        },
    )
    try:
        uvicorn.Server(config).run()
    finally:
        shutdown()  # idempotent; covers a failed start-up


def _principal(settings: Settings) -> str | None:
    """The SASL user the registry's Kafka clients log in as (never the password)."""
    security = settings.security
    return security.username if security.protocol.startswith("SASL") else None
