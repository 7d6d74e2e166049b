"""The FULL-compatibility gate of `make test`: the committed released schemas are registered
under FULL in a registry started here, and `orderstream schemas check` must pass on the current
.avsc files; an incompatible edit makes it exit non-zero with a readable reason."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from orderstream.serde.catalog import TOPIC_SCHEMAS, released_dir, schemas_dir

from .conftest import StartRegistry

pytestmark = pytest.mark.integration


def orderstream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderstream.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def released_registry(start_private: StartRegistry) -> str:
    """A registry holding the released schemas, each subject at FULL."""
    url = start_private().url
    done = orderstream("schemas", "register", "--registry-url", url, "--dir", str(released_dir()))
    assert done.returncode == 0, done.stdout + done.stderr
    released = [
        t for t, stem in TOPIC_SCHEMAS.items() if (released_dir() / f"{stem}.avsc").exists()
    ]
    assert "orders" in released
    for topic in released:
        level = httpx.get(f"{url}/config/{topic}-value").json()
        assert level == {"compatibilityLevel": "FULL"}
    return url


def test_current_schemas_pass_the_gate(released_registry: str) -> None:
    done = orderstream("schemas", "check", "--registry-url", released_registry)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "orders-value: compatible with version 1 (FULL)" in done.stdout


def test_an_incompatible_edit_fails_with_a_reason(released_registry: str, tmp_path: Path) -> None:
    edited = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), edited)
    path = edited / "OrderCreated.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append({"name": "channel", "type": "string", "doc": "no default: breaks"})
    path.write_text(json.dumps(schema))

    done = orderstream(
        "schemas", "check", "--registry-url", released_registry, "--dir", str(edited)
    )
    assert done.returncode == 1
    assert "orders-value: INCOMPATIBLE under FULL" in done.stdout
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in done.stdout and "channel" in done.stdout
    assert "fail the FULL compatibility gate" in done.stderr
    assert "Traceback" not in done.stderr
