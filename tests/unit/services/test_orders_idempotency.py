"""The orders API's idempotency ledger, key -> orderId mapping, circuit and OpenAPI document."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from orderstream.services.orders.circuit import DeliveryCircuit, writable
from orderstream.services.orders.idempotency import (
    KEY_NAMESPACE,
    KeyMismatch,
    order_digest,
    order_id_for_key,
    resolve_order_id,
)
from orderstream.services.orders.models import OrderRequest, parse_idempotency_key
from orderstream.services.orders.openapi import openapi_document


def _order(**fields: object) -> OrderRequest:
    return OrderRequest.model_validate(
        {"customerId": "c", "productId": "p", "quantity": 1, **fields}
    )


def test_a_key_maps_to_a_documented_uuid5_and_a_batch_item_to_key_hash_index() -> None:
    assert order_id_for_key("k-1") == str(uuid.uuid5(KEY_NAMESPACE, "k-1"))
    assert order_id_for_key("k-1", 3) == str(uuid.uuid5(KEY_NAMESPACE, "k-1#3"))
    assert resolve_order_id(_order(), "k-1") == order_id_for_key("k-1")
    assert resolve_order_id(_order(orderId=order_id_for_key("k-1")), "k-1") == order_id_for_key(
        "k-1"
    )
    assert resolve_order_id(_order(orderId="o-9"), None) == "o-9"
    assert resolve_order_id(_order(), None) is None
    with pytest.raises(KeyMismatch, match="Idempotency-Key maps to"):
        resolve_order_id(_order(orderId="o-9"), "k-1")


def test_the_digest_covers_what_was_ordered_not_the_order_id() -> None:
    assert order_digest(_order(orderId="a")) == order_digest(_order(orderId="b"))
    assert order_digest(_order()) != order_digest(_order(quantity=2))
    assert order_digest(_order()) != order_digest(_order(productId="q"))


# The ledger's rules (retry, conflict, window, bound) run against both ledgers, this process's
# and the workers' shared one, in tests/unit/orders/test_shared_ledger.py.


@pytest.mark.parametrize("header", ["", "a b", "é", "x" * 256])
def test_bad_idempotency_keys_are_refused(header: str) -> None:
    with pytest.raises(ValueError, match="Idempotency-Key"):
        parse_idempotency_key(header)
    assert parse_idempotency_key(None) is None
    assert parse_idempotency_key("order-42:retry") == "order-42:retry"


def test_the_circuit_refuses_while_open_but_lets_a_probe_through_per_interval() -> None:
    circuit = DeliveryCircuit(probe_interval_s=3600)
    assert circuit.admit()
    circuit.trip("all brokers are down")
    assert circuit.reason == "all brokers are down"
    assert not circuit.admit()
    circuit.close("a delivery succeeded")
    assert circuit.reason is None
    assert circuit.admit()
    probing = DeliveryCircuit(probe_interval_s=0)
    probing.trip("x")
    assert probing.admit()


def test_writable_needs_a_leader_and_min_isr_on_every_partition() -> None:
    def meta(*partitions: tuple[int, list[int], list[int]]) -> SimpleNamespace:
        parts = {
            i: SimpleNamespace(leader=leader, replicas=replicas, isrs=isrs)
            for i, (leader, replicas, isrs) in enumerate(partitions)
        }
        return SimpleNamespace(topics={"orders": SimpleNamespace(partitions=parts)})

    assert writable(meta((1, [1, 2, 3], [1, 2]), (2, [1, 2, 3], [2, 3])), "orders")
    assert not writable(meta((1, [1, 2, 3], [1])), "orders")  # min ISR 2 not met
    assert not writable(meta((-1, [1], [])), "orders")  # no leader
    assert not writable(meta(), "orders")


def test_the_openapi_document_lists_every_route_and_resolves_every_ref() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/orders",
        "/orders/batch",
        "/orders/{order_id}",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    schemas = doc["components"]["schemas"]
    refs = _refs(doc)
    assert refs
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(schemas)
    post = doc["paths"]["/orders"]["post"]
    assert set(post["responses"]) == {"202", "409", "413", "422", "503"}
    assert post["parameters"][0]["name"] == "Idempotency-Key"
    assert "Retry-After" in post["responses"]["503"]["headers"]
    assert openapi_document() is doc  # built once, not per request


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []
