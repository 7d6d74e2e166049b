"""Which schema each topic carries, and the .avsc files that define them.

To add an event: drop ``<Name>.avsc`` into ``schemas/`` and add one line to ``TOPIC_SCHEMAS``.
``schemas/released/`` keeps the versions already in production; ``orderstream schemas check``
and the CI gate test the current files against them under FULL compatibility.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from orderstream.errors import SerdeError

# topic -> schema file stem (schemas/<stem>.avsc); values go to subject "<topic>-value".
TOPIC_SCHEMAS: dict[str, str] = {
    "orders": "OrderCreated",
    "products": "Product",
    "inventory-adjustments": "InventoryAdjusted",
    "orders-by-product": "OrderCreated",
    "enriched-orders": "EnrichedOrder",
    "order-stats": "OrderStats",
    "order-alerts": "OrderAlert",
    # payments (issue 13): outcomes keyed by orderId, and enrichment's releases
    "payments-completed": "PaymentCompleted",
    "payments-failed": "PaymentFailed",
    "stock-released": "StockReleased",
}

NAMESPACE = "orderstream.events"


def schemas_dir() -> Path:
    """The folder of the current .avsc files, inside the installed package."""
    return Path(str(resources.files("orderstream.serde") / "schemas"))


def released_dir() -> Path:
    """The folder of the released .avsc files (what production consumers know)."""
    return schemas_dir() / "released"


def value_subject(topic: str) -> str:
    """The TopicNameStrategy subject for a topic's values."""
    return f"{topic}-value"


@cache
def schema_text(stem: str, folder: Path | None = None) -> str:
    """The JSON text of ``<stem>.avsc``, compacted (the form registered in the registry)."""
    path = (folder or schemas_dir()) / f"{stem}.avsc"
    try:
        parsed: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SerdeError(f"schema file {path} cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise SerdeError(f"schema file {path} is not valid JSON: {exc}") from exc
    return json.dumps(parsed, separators=(",", ":"))


def topic_schema_texts(folder: Path | None = None) -> dict[str, str]:
    """``{subject: schema text}`` for every topic of ``TOPIC_SCHEMAS`` whose file exists."""
    folder = folder or schemas_dir()
    return {
        value_subject(topic): schema_text(stem, folder)
        for topic, stem in TOPIC_SCHEMAS.items()
        if (folder / f"{stem}.avsc").is_file()
    }
