"""The chaos proxy frames Kafka's protocol: it forwards, swallows chosen responses, resets."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from orderstream.chaos.cluster import coordinator_partition, java_string_hash
from orderstream.chaos.ports import ephemeral_range, free_ports
from orderstream.chaos.proxy import END_TXN, PRODUCE, BrokerProxy


def _request(api_key: int, correlation: int, payload: bytes = b"x") -> bytes:
    body = struct.pack(">hhi", api_key, 0, correlation) + payload
    return struct.pack(">i", len(body)) + body


class FakeBroker:
    """Answers every framed request with a response carrying its correlation id."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.served = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)

    async def _listen(self) -> None:
        await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack(">i", await reader.readexactly(4))[0]
                frame = await reader.readexactly(size)
                self.served += 1
                answer = frame[4:8] + b"ok"
                writer.write(struct.pack(">i", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError):
            writer.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def proxied() -> Iterator[tuple[BrokerProxy, FakeBroker]]:
    broker_port, proxy_port = free_ports(2)
    broker = FakeBroker(broker_port)
    broker.start()
    proxy = BrokerProxy(proxy_port, broker_port)
    proxy.start()
    try:
        yield proxy, broker
    finally:
        proxy.stop()
        broker.stop()


def _answer(sock: socket.socket) -> int:
    size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
    return int(struct.unpack(">i", sock.recv(size, socket.MSG_WAITALL)[:4])[0])


def test_proxy_swallows_chosen_responses_after_the_broker_served_them(
    proxied: tuple[BrokerProxy, FakeBroker],
) -> None:
    proxy, broker = proxied
    with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5) as sock:
        sock.sendall(_request(PRODUCE, 1))
        assert _answer(sock) == 1
        proxy.drop_responses(frozenset({PRODUCE, END_TXN}))
        for corr, key in ((2, PRODUCE), (3, END_TXN), (4, 3)):  # 3 = Metadata: still answered
            sock.sendall(_request(key, corr))
        assert _answer(sock) == 4
        assert broker.served == 4  # the dropped requests were executed: the outcome is unknown
        assert proxy.dropped == {PRODUCE: 1, END_TXN: 1}
        proxy.forward_all()
        sock.sendall(_request(END_TXN, 5))
        assert _answer(sock) == 5
        assert proxy.reset_connections() == 2  # the client side and the broker side
        assert sock.recv(1) == b""  # the client sees its connection closed


def test_ports_lie_below_the_ephemeral_range() -> None:
    low, _ = ephemeral_range()
    assert all(p < low for p in free_ports(20))


def test_transaction_coordinator_partition_matches_kafka() -> None:
    # Values of String.hashCode printed by jshell
    assert java_string_hash("enrichment-0") == 92314822
    assert java_string_hash("analytics-0") == 803067817
    assert java_string_hash("zz-Ünï") == -687985648
    assert coordinator_partition("enrichment-0", 5) == 92314822 % 5
    assert coordinator_partition("zz-Ünï", 50) == 687985648 % 50
