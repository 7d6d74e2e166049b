"""``--workers``: its values, and the SO_REUSEPORT sockets that let N workers share a port."""

from __future__ import annotations

import socket

import pytest

from orderstream.errors import ConfigError
from orderstream.services.orders.workers import reuseport_socket, worker_count


def test_workers_is_auto_or_a_positive_number() -> None:
    assert worker_count("auto") >= 1
    assert worker_count("3") == 3
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(ConfigError, match="--workers must be"):
            worker_count(bad)


def test_workers_share_a_port_that_nobody_else_holds() -> None:
    first = reuseport_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuseport_socket("127.0.0.1", port)  # a second worker on the same port
    try:
        assert second.getsockname()[1] == port
        with socket.socket() as plain:  # a server without SO_REUSEPORT holds its port alone
            plain.bind(("127.0.0.1", 0))
            plain.listen()
            taken = plain.getsockname()[1]
            with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{taken}"):
                reuseport_socket("127.0.0.1", taken)
    finally:
        first.close()
        second.close()
