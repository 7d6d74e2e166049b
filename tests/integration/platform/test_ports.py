"""Every port orderstream picks or defaults to lies outside the kernel's ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from orderstream.ops.harness import free_port as harness_port
from orderstream.ops.stack import SERVICES
from orderstream.platform import ports
from orderstream.platform.nodes import DEFAULT_PORTS, make_spec
from orderstream.testing.cluster import free_port_pairs
from orderstream.testing.registry import free_port as registry_port


def test_the_range_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    fake = tmp_path / "ip_local_port_range"
    fake.write_text("20000\t40000\n")
    assert ports.ephemeral_range(fake) == (20000, 40000)
    assert ports.candidate_bands(fake) == [(10_000, 19_999), (40_001, 65_534)]
    assert ports.is_ephemeral(30_000, fake) and not ports.is_ephemeral(19_999, fake)
    assert ports.ephemeral_range(tmp_path / "missing") == ports.FALLBACK_RANGE


def test_picked_ports_are_outside_the_range_free_and_not_defaults() -> None:
    first, last = ports.ephemeral_range()
    picked = [harness_port() for _ in range(50)] + [registry_port() for _ in range(20)]
    picked += [p for pair in free_port_pairs(10) for p in pair]
    assert all(not first <= p <= last for p in picked), (first, last, picked)
    assert not set(picked) & ports.DEFAULTS
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", harness_port()))  # free when handed out


def test_pairs_are_consecutive_and_distinct() -> None:
    pairs = free_port_pairs(3)
    assert all(controller == broker + 1 for broker, controller in pairs)
    assert len({p for pair in pairs for p in pair}) == 6


@pytest.mark.parametrize("nodes", [1, 3])
def test_defaults_are_outside_the_range(nodes: int, tmp_path: Path) -> None:
    first, last = ports.ephemeral_range()
    spec = make_spec(tmp_path, nodes)
    listening = [p for n in spec.nodes for p in (n.broker_port, n.controller_port)]
    listening += [s.port for s in SERVICES]
    assert all(not first <= p <= last for p in listening), listening
    assert DEFAULT_PORTS[3] == (19092, 29092, 31092)
