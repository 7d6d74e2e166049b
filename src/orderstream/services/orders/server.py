"""Wiring of the orders service: serde, publisher and view from settings, served by uvicorn."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from orderstream.config import Settings
from orderstream.errors import OrderstreamError, RegistryAccessDenied
from orderstream.platform.secure import view_settings
from orderstream.serde import EnrichedOrder, EventSerde, OrderCreated
from orderstream.serde.events import from_record, to_record
from orderstream.services.orders.app import OrdersComponents, PostOrdersFirst, create_app
from orderstream.services.orders.follower import OrdersFollower
from orderstream.services.orders.idempotency import WINDOW_S, IdempotencyLedger, Ledger
from orderstream.services.orders.models import OrderRequest, lifecycle_json
from orderstream.services.orders.publisher import OrderPublisher
from orderstream.services.orders.shared_ledger import SharedLedger
from orderstream.services.orders.view import LIFECYCLE_TOPICS, EnrichedOrderView
from orderstream.services.orders.workers import exit_with_supervisor, reuseport_socket
from orderstream.services.topics import ENRICHED_ORDERS, ORDERS
from orderstream.tls import ServerTls

logger = logging.getLogger(__name__)


def order_created(order: OrderRequest, now_ms: int | None = None) -> OrderCreated:
    """The OrderCreated event of a validated request (``now_ms``: its event time)."""
    assert order.orderId is not None
    timestamp = now_ms if now_ms is not None else int(time.time() * 1000)
    return from_record(OrderCreated, {**order.model_dump(), "timestamp": timestamp})


def outcome_json(event: Any) -> dict[str, Any]:
    """An EnrichedOrder as the camelCase JSON the API answers with."""
    if not isinstance(event, EnrichedOrder):
        if (fact := lifecycle_json(event)) is not None:
            return fact  # a payment outcome or a release: the view adds it to the order's path
        raise TypeError(f"expected EnrichedOrder, got {type(event).__name__}")
    return to_record(event)


def components_factory(
    settings: Settings,
    *,
    ack_timeout_s: float = 3.0,
    ledger: Callable[[], Ledger] = lambda: IdempotencyLedger(window_s=WINDOW_S),
) -> Any:
    """A builder of the service's parts, run by the app's lifespan (``ledger`` makes the ledger:
    this process's own, or the one the workers share)."""

    orders = settings.named(ORDERS)

    def build() -> OrdersComponents:
        serde = EventSerde.from_settings(settings)
        sample = OrderRequest(orderId="schema-check", customerId="c", productId="p", quantity=1)

        def register_schema() -> None:
            serde.encode(orders, order_created(sample))  # the first encode registers it

        return OrdersComponents(
            publisher=OrderPublisher(settings, orders, ack_timeout_s=ack_timeout_s),
            # the view reads the outcomes as its own least-privilege principal (orders-view)
            view=EnrichedOrderView(
                view_settings(settings),
                settings.named(ENRICHED_ORDERS),
                lambda data: outcome_json(serde.decode(data)),
                lifecycle_topics=tuple(settings.named(t) for t in LIFECYCLE_TOPICS),
            ),
            encode_order=lambda order, ts: serde.encode(orders, order_created(order, ts)),
            register_schema=register_schema,  # a blocking HTTP call: run off the event loop
            follower=OrdersFollower(settings, orders, WINDOW_S),
            ledger=ledger(),
        )

    return build


def orders_app(settings: Settings, *, ack_timeout_s: float = 3.0) -> FastAPI:
    return create_app(components_factory(settings, ack_timeout_s=ack_timeout_s))


def _server(app: FastAPI, tls: ServerTls | None, host: str = "", port: int = 0) -> uvicorn.Server:
    config = uvicorn.Config(
        PostOrdersFirst(app),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=5,
        ssl_certfile=tls.certfile if tls else None,
        ssl_keyfile=tls.keyfile if tls else None,
    )
    return uvicorn.Server(config)


def check_registry_access(settings: Settings) -> None:
    """Register the OrderCreated schema now, so a refused registry login stops the start-up.

    RegistryAccessDenied (wrong credentials or a read-only user) propagates: the CLI prints it
    and exits. A registry that is merely down is not fatal: orders get 503 until it is back.
    """
    serde = EventSerde.from_settings(settings)
    sample = OrderRequest(orderId="schema-check", customerId="c", productId="p", quantity=1)
    try:
        serde.encode(settings.named(ORDERS), order_created(sample))
    except RegistryAccessDenied:
        raise
    except (OrderstreamError, OSError) as exc:
        logger.warning(
            "schema registry not usable yet; orders get 503 until it is",
            extra={"registry": settings.registry_url, "error": str(exc)},
        )
    finally:
        serde.close()


def serve_orders(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    tls: ServerTls | None = None,
) -> None:
    """Run the orders API until SIGTERM/SIGINT; HTTPS only when ``tls`` is given.

    ``/metrics`` is served on the same port, so over HTTPS it is scraped with the CA
    (Prometheus ``scheme: https`` and ``tls_config.ca_file``); nothing is served in clear.
    """
    check_registry_access(settings)
    scheme = "https" if tls is not None else "http"
    logger.info("orders API starting", extra={"url": f"{scheme}://{host}:{port}"})
    _server(orders_app(settings), tls, host, port).run()


def serve_worker(
    settings: Settings, host: str, port: int, tls: ServerTls | None, shared: Path
) -> None:
    """One worker of ``run orders --workers N`` (workers.py): its own SO_REUSEPORT socket on the
    port, the ledger the workers share under ``shared``; until SIGTERM/SIGINT."""
    sock = reuseport_socket(host, port)
    exit_with_supervisor()
    app = create_app(components_factory(settings, ledger=lambda: SharedLedger(shared / "ledger")))
    logger.info("orders worker serving", extra={"pid": os.getpid(), "port": port})
    _server(app, tls).run(sockets=[sock])
