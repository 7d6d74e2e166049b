"""``orderstream bench orders-tls``: the orders API's accepted orders/s over HTTPS vs HTTP.

One fresh local cluster (topology, registry, schemas), two orders API processes side by side,
one plain and one HTTPS (a certificate of a fresh local CA); rounds alternate between them so
that machine load hits both alike, and each side keeps its best round. Prints figures only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from orderstream.bench.environment import bench_environment
from orderstream.errors import PlatformError
from orderstream.ops.harness import PipelineHarness, ServiceHandle
from orderstream.ops.load import LoadSpec, build_orders, load_over_http
from orderstream.platform.certs import server_cert
from orderstream.tls import client_context

PRODUCTS = 100


@dataclass
class TlsFigures:
    count: int
    rounds: int
    rates: dict[str, list[float]] = field(default_factory=lambda: {"http": [], "https": []})
    refused: dict[str, int] = field(default_factory=lambda: {"http": 0, "https": 0})

    def best(self, scheme: str) -> float:
        return max(self.rates[scheme], default=0.0)

    @property
    def ratio(self) -> float:
        """HTTPS best over HTTP best (1.0 means TLS costs nothing)."""
        plain = self.best("http")
        return self.best("https") / plain if plain else 0.0


def orders_tls_bench(
    cache_dir: Path, count: int, rounds: int, say: Callable[[str], None]
) -> TlsFigures:
    figures = TlsFigures(count, rounds)
    with bench_environment(cache_dir) as (_cluster, settings, home):
        certs = server_cert(home, "orders-api")
        harness = PipelineHarness(settings, home / "run")
        try:
            plain = harness.start_orders()
            secure = _start_https_orders(harness, certs.cert, certs.key, certs.ca)
            urls = {"http": plain.url, "https": f"https://127.0.0.1:{secure.spec.port}"}
            for n in range(rounds):
                for scheme, url in urls.items():
                    say(f"round {n + 1}/{rounds}: {count:,} orders over {scheme}")
                    spec = LoadSpec(count, 0, products=PRODUCTS, url=url, seed=n, ca_file=certs.ca)
                    orders = build_orders(spec, f"{scheme}{n}")
                    report = asyncio.run(load_over_http(spec, orders, lambda _n: None))
                    figures.rates[scheme].append(report.rate)
                    figures.refused[scheme] += report.refused
        finally:
            harness.stop_all()
    return figures


def _start_https_orders(harness: PipelineHarness, cert: Path, key: Path, ca: Path) -> ServiceHandle:
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    handle = harness.start_orders(*tls, wait=False)  # the harness waits over plain HTTP
    try:
        _wait_https_ready(handle, f"https://127.0.0.1:{handle.spec.port}/readyz", ca, 120.0)
    except BaseException:
        handle.stop()
        raise
    return handle


def _wait_https_ready(handle: ServiceHandle, url: str, ca: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(verify=client_context(ca), timeout=2.0) as http:
        while time.monotonic() < deadline:
            if not handle.alive():
                raise PlatformError(f"the HTTPS orders API exited during start-up ({url})")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(url).status_code == 200:
                    return
            time.sleep(0.2)
    raise PlatformError(f"the HTTPS orders API was not ready at {url} after {timeout_s:.0f} s")
