"""The analytics HTTP app: the dashboard, ``/api/stats``, the ``/api/events`` feed, probes.

Every asset is a file of ``web/`` served by this app: the page works offline.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from orderstream.services.analytics.live import LiveView

FEED_POLL_S = 0.1  # how often the feed looks for a new commit cycle
FEED_KEEPALIVE_S = 15.0


def web_dir() -> Path:
    return Path(str(resources.files("orderstream.services.analytics") / "web"))


def create_app(
    live: LiveView,
    ready: Callable[[], bool] = lambda: True,
    registries: Sequence[CollectorRegistry] = (REGISTRY,),
) -> FastAPI:
    """The app over a live view; ``ready`` says whether the processor is running.

    ``/metrics`` serves every registry given: analytics' own metrics and the runtime's.
    """
    app = FastAPI(title="orderstream analytics", docs_url=None, redoc_url=None)
    web = web_dir()
    app.mount("/static", StaticFiles(directory=web), name="static")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(web / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(live.snapshot(), headers={"Cache-Control": "no-store"})

    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(
            _feed(live, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> PlainTextResponse:
        ok = ready()
        return PlainTextResponse("ready\n" if ok else "starting\n", status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body = b"".join(generate_latest(r) for r in registries)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


async def _feed(live: LiveView, request: Request) -> AsyncIterator[str]:
    """Server-sent events: one ``stats`` event per commit cycle, and a keep-alive comment."""
    seq = -1
    idle = 0.0
    while not await request.is_disconnected():
        if live.seq != seq:
            snapshot: dict[str, Any] = live.snapshot()
            seq = snapshot["seq"]
            idle = 0.0
            yield f"event: stats\ndata: {json.dumps(snapshot, separators=(',', ':'))}\n\n"
        elif idle >= FEED_KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(FEED_POLL_S)
        idle += FEED_POLL_S
