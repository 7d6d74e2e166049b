"""HTTP Basic auth from an auth file: 401 without or with bad credentials, 403 for a read-only
user writing, 200 otherwise; entries come from `orderstream registry hash-password`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import StartRegistry, record_schema

pytestmark = pytest.mark.integration

SCHEMA = {"schema": record_schema("Secret", [{"name": "a", "type": "string"}])}


def hash_line(user: str, role: str, password: str) -> str:
    """An auth-file line from the CLI, the password on stdin (never in argv)."""
    done = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "registry", "hash-password", user,
         "--role", role],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    line = done.stdout.strip()
    assert line.startswith(f"{user}:{role}:scrypt$") and password not in line
    return line


def test_basic_auth_roles(start_private: StartRegistry, tmp_path: Path) -> None:
    auth_file = tmp_path / "users"
    lines = [
        hash_line("writer", "read-write", "w-secret"),
        hash_line("reader", "read-only", "r-secret"),
    ]
    auth_file.write_text("# users\n" + "\n".join(lines) + "\n")
    registry = start_private(auth_file=auth_file)
    url = registry.url

    assert httpx.get(f"{url}/subjects").status_code == 401
    assert "basic" in httpx.get(f"{url}/subjects").headers["www-authenticate"].lower()
    assert httpx.get(f"{url}/subjects", auth=("writer", "wrong")).status_code == 401
    assert httpx.get(f"{url}/subjects", auth=("nobody", "x")).status_code == 401

    denied = httpx.post(f"{url}/subjects/s1/versions", json=SCHEMA, auth=("reader", "r-secret"))
    assert denied.status_code == 403
    assert denied.json()["error_code"] == 40301

    written = httpx.post(f"{url}/subjects/s1/versions", json=SCHEMA, auth=("writer", "w-secret"))
    assert written.status_code == 200
    read = httpx.get(f"{url}/subjects", auth=("reader", "r-secret"))
    assert (read.status_code, read.json()) == (200, ["s1"])
