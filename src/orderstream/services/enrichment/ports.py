"""What enrichment needs from its surroundings: the product table, somewhere to emit (its codec
is ``orderstream.serde.Codec``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Catalog(Protocol):
    """What the processor needs from the product table (a ``ProductCatalog`` fits)."""

    def lookup(self, product_id: str) -> Any | None: ...


class Emitter(Protocol):
    """Both contexts emit: a record's (stage 2) and a punctuation's (deadlines)."""

    def emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None: ...
