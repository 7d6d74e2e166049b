"""Steady HTTP load on the orders API that records what was acknowledged, for the checkers.

A client that got a 202 was promised durability, so every acknowledged orderId is recorded with
the time of its ack. A 503 promises nothing either way (the order may still be written), and
neither does a timeout or a dropped connection; they are counted by kind.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx

from orderstream.ops.seed import product_id, unit_price_cents
from orderstream.threads import StoppableThread

REQUEST_TIMEOUT_S = 10.0


@dataclass
class LoadLog:
    acked: dict[str, float] = field(default_factory=dict)  # orderId -> time.time() of its 202
    acks: list[tuple[str, float]] = field(default_factory=list)  # the same, append-only
    unavailable: int = 0  # 503 answers
    other: Counter[str] = field(default_factory=Counter)  # timeouts, connection errors, others
    sent: int = 0
    first_503_at: float | None = None


def order_body(order_id: str, rng: random.Random, products: int) -> bytes:
    index = rng.randrange(products)
    quantity = rng.randint(1, 3)
    return json.dumps(
        {
            "orderId": order_id,
            "customerId": f"c-{rng.randrange(500)}",
            "productId": product_id(index),
            "quantity": quantity,
            "amountCents": quantity * unit_price_cents(index),
            "currency": "EUR",
        }
    ).encode()


class SteadyLoad(StoppableThread):
    """Posts orders at ``rate`` per second from a background thread until ``stop``."""

    def __init__(
        self, url: str, prefix: str, rate: float, products: int, concurrency: int = 12
    ) -> None:
        super().__init__(f"load-{prefix}")
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.prefix = prefix
        self.rate = rate
        self.products = products
        self.concurrency = concurrency
        self.log = LoadLog()
        self._next = 0

    def stop(self, timeout_s: float = REQUEST_TIMEOUT_S + 10) -> None:
        super().stop(timeout_s)

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        began = time.perf_counter()
        # httpx never resends a request on its own: each order is posted exactly once, so a
        # duplicate in `orders` cannot come from the load generator.
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://{self.host}:{self.port}", timeout=REQUEST_TIMEOUT_S, limits=limits
        ) as http:
            await asyncio.gather(*(self._worker(http, began, w) for w in range(self.concurrency)))

    async def _worker(self, http: httpx.AsyncClient, began: float, worker: int) -> None:
        rng = random.Random(f"{self.prefix}-{worker}")
        while not self.stopping.is_set():
            index = self._next
            self._next += 1
            delay = began + index / self.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            order_id = f"{self.prefix}-{index}"
            await self._post(http, order_id, order_body(order_id, rng, self.products))

    async def _post(self, http: httpx.AsyncClient, order_id: str, body: bytes) -> None:
        self.log.sent += 1
        headers = {"content-type": "application/json"}
        try:
            response = await http.post("/orders", content=body, headers=headers)
        except httpx.TimeoutException:
            self.log.other["timeout"] += 1
            return
        except httpx.HTTPError as exc:
            self.log.other[f"connection: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.1)
            return
        if response.status_code == 202:
            at = time.time()
            self.log.acked[order_id] = at
            self.log.acks.append((order_id, at))
        elif response.status_code == 503:
            self.log.unavailable += 1
            self.log.first_503_at = self.log.first_503_at or time.time()
        else:
            self.log.other[f"HTTP {response.status_code}"] += 1
