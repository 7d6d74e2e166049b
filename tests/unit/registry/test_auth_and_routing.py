"""Auth-file parsing, password hashing, roles; raw-path routing of the HTTP app."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from orderstream.errors import ConfigError, RegistryError
from orderstream.registry.auth import (
    Authenticator,
    RoleName,
    load_users,
    user_line,
    verify_password,
)
from orderstream.registry.http import Router, split_raw_path


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_hashes_are_salted_and_verify() -> None:
    one, two = user_line("u", RoleName.READ_ONLY, "pw"), user_line("u", RoleName.READ_ONLY, "pw")
    assert one != two  # fresh salt each time
    encoded = one.split(":", 2)[2]
    assert verify_password("pw", encoded)
    assert not verify_password("other", encoded)
    assert not verify_password("pw", "md5$nope")


def test_roles(tmp_path: Path) -> None:
    users = tmp_path / "users"
    lines = [user_line("w", RoleName.READ_WRITE, "a"), user_line("r", RoleName.READ_ONLY, "b")]
    users.write_text("# comment\n" + "\n".join(lines))
    auth = Authenticator(load_users(users))
    assert auth.authorize(_basic("w", "a"), "POST").name == "w"
    assert auth.authorize(_basic("r", "b"), "GET").name == "r"
    for header, method, status in [
        (None, "GET", 401),
        ("Bearer x", "GET", 401),
        ("Basic !!!", "GET", 401),
        (_basic("w", "wrong"), "GET", 401),
        (_basic("r", "b"), "DELETE", 403),
    ]:
        with pytest.raises(RegistryError) as refused:
            auth.authorize(header, method)
        assert refused.value.status == status


def test_malformed_auth_file_names_the_line(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("ok:read-only:scrypt$1\nbroken line\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_users(users)
    with pytest.raises(ConfigError, match="cannot read"):
        load_users(tmp_path / "missing")


def test_raw_path_keeps_encoded_slashes() -> None:
    assert split_raw_path(b"/subjects/a%2Fb/versions/") == ["subjects", "a/b", "versions"]
    assert split_raw_path(b"/subjects/caf%C3%A9") == ["subjects", "café"]


async def _noop(_: object) -> None:
    return None


def test_router_matches_methods_and_patterns() -> None:
    router = Router()
    router.add("GET", "/subjects/{subject}/versions", _noop)  # type: ignore[arg-type]
    handler, params = router.match("GET", ["subjects", "a/b", "versions"])
    assert params == {"subject": "a/b"}
    with pytest.raises(RegistryError) as not_allowed:
        router.match("PATCH", ["subjects", "x", "versions"])
    assert not_allowed.value.status == 405
    with pytest.raises(RegistryError) as missing:
        router.match("GET", ["nothing"])
    assert missing.value.status == 404
