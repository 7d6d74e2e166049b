"""A TCP proxy in front of one broker that can swallow chosen Kafka responses.

The broker advertises the proxy's port, so every client (and every follower replicating from
it) reaches the broker through the proxy. Normally it forwards bytes both ways. While
``drop_responses`` is active, requests still reach the broker and are executed, but the
responses of the named API keys (produce, EndTxn...) never come back: the client cannot know
whether its write or commit happened. That is an ambiguous commit. ``reset_connections`` then
closes every connection, as a network blip would, so clients reconnect and retry.

The proxy frames the stream (Kafka's 4-byte length prefix) to map each response back to its
request's API key through the correlation id. It runs an asyncio loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future

logger = logging.getLogger(__name__)

# Kafka API keys whose responses the ambiguous-commit fault swallows.
PRODUCE = 0
END_TXN = 26


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, passes: Callable[[bytes], bool]
) -> None:
    """Copy Kafka frames from ``reader`` to ``writer``, those that ``passes`` lets through."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while True:
            frame = await _read_frame(reader)
            if passes(frame):
                writer.write(frame)
                await writer.drain()


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    return head + await reader.readexactly(int.from_bytes(head, "big", signed=True))


class BrokerProxy:
    """Listens on ``listen_port`` and forwards to the broker on ``upstream_port``."""

    def __init__(self, listen_port: int, upstream_port: int) -> None:
        self.listen_port = listen_port
        self.upstream_port = upstream_port
        self.dropping: frozenset[int] = frozenset()
        self.dropped: Counter[int] = Counter()
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen()).result(10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown()).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def drop_responses(self, api_keys: frozenset[int]) -> None:
        """From now on, swallow the responses to requests of these API keys."""
        self.dropping = api_keys

    def forward_all(self) -> None:
        self.dropping = frozenset()

    def reset_connections(self) -> int:
        """Close every proxied connection; returns how many were open."""
        return self._call(self._reset()).result(10)

    # -- inside the loop ----------------------------------------------------------------------

    def _call(self, coro: object) -> Future[int]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen_port)
        return self.listen_port

    async def _shutdown(self) -> int:
        if self._server is not None:
            self._server.close()
        return await self._reset()

    async def _reset(self) -> int:
        writers = list(self._writers)
        for writer in writers:
            writer.close()
        return len(writers)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()  # the broker is down: the client sees a refused connection
            return
        self._writers.update((client_w, broker_w))
        inflight: dict[bytes, int] = {}
        tasks = [
            asyncio.ensure_future(self._requests(client_r, broker_w, inflight)),
            asyncio.ensure_future(self._responses(broker_r, client_w, inflight)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_w, broker_w):
                self._writers.discard(writer)
                writer.close()

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, inflight: dict[bytes, int]
    ) -> None:
        def note(frame: bytes) -> bool:
            # request header: api_key int16, api_version int16, correlation_id int32
            inflight[frame[8:12]] = int.from_bytes(frame[4:6], "big")
            return True

        await _pipe(reader, writer, note)

    async def _responses(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, inflight: dict[bytes, int]
    ) -> None:
        def served(frame: bytes) -> bool:
            api_key = inflight.pop(frame[4:8], -1)  # response header: correlation_id
            if api_key in self.dropping:
                self.dropped[api_key] += 1
                return False
            return True

        await _pipe(reader, writer, served)
