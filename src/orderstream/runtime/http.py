"""The service shell: ``/metrics``, ``/healthz`` and ``/readyz`` on the configured HTTP port.

A small threaded HTTP server beside the synchronous loop. Healthy means the loop is alive and
cycling; ready means assigned, restored and processing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, str]]


class ServiceShell:
    """Serves the probes and metrics until ``close``; ``port`` is the bound port."""

    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, healthy: Probe, ready: Probe
    ) -> None:
        shell = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                shell.answer(self)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: probes are frequent."""

        self._registry = registry
        self._healthy = healthy
        self._ready = ready
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        logger.info("service shell listening", extra={"host": host, "port": self.port})

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path == "/metrics":
            body, status, ctype = generate_latest(self._registry), 200, CONTENT_TYPE_LATEST
        elif path in ("/healthz", "/readyz"):
            ok, why = (self._healthy if path == "/healthz" else self._ready)()
            body, status, ctype = (why + "\n").encode(), 200 if ok else 503, "text/plain"
        else:
            body, status, ctype = b"not found\n", 404, "text/plain"
        request.send_response(status)
        request.send_header("Content-Type", ctype)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
