"""Failed logins: refused passwords are remembered, new guesses are rationed (429 + wait)."""

from __future__ import annotations

import base64
from unittest import mock

import pytest

from orderstream.errors import RegistryError
from orderstream.registry import auth as auth_module
from orderstream.registry.auth import Authenticator, RoleName, User, hash_password
from orderstream.registry.errors import LoginsThrottled
from orderstream.registry.limiter import Budget, LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _authenticator(clock: Clock) -> Authenticator:
    users = {
        "w": User("w", RoleName.READ_WRITE, hash_password("good")),
        "r": User("r", RoleName.READ_ONLY, hash_password("ro")),
    }
    limiter = LoginLimiter(Budget(burst=3, per_second=0.5), Budget(burst=10, per_second=1), clock)
    return Authenticator(users, limiter)


def _status(auth: Authenticator, header: str, address: str = "10.0.0.1") -> int:
    try:
        auth.authorize(header, "GET", address)
    except RegistryError as exc:
        return exc.status
    return 200


def test_new_wrong_passwords_are_throttled_with_a_retry_after() -> None:
    clock = Clock()
    auth = _authenticator(clock)
    assert [_status(auth, _basic("w", f"guess-{i}")) for i in range(4)] == [401, 401, 401, 429]
    with pytest.raises(LoginsThrottled) as throttled:
        auth.authorize(_basic("w", "guess-x"), "GET", "10.0.0.1")
    assert throttled.value.retry_after_s == 2  # one token at 0.5/s
    # another address is not throttled for this user; the throttled one is after the wait
    assert _status(auth, _basic("w", "guess-y"), "10.0.0.2") == 401
    clock.now += 2
    assert _status(auth, _basic("w", "guess-z")) == 401


def test_known_passwords_cost_no_scrypt_and_pass_while_guesses_are_throttled() -> None:
    clock = Clock()
    auth = _authenticator(clock)
    assert _status(auth, _basic("w", "good")) == 200
    assert _status(auth, _basic("w", "stale")) == 401
    for i in range(3):
        _status(auth, _basic("w", f"guess-{i}"))
    with mock.patch.object(auth_module, "verify_password", side_effect=AssertionError("scrypt")):
        assert auth.is_cheap(_basic("w", "good")) and auth.is_cheap(_basic("w", "stale"))
        assert _status(auth, _basic("w", "good")) == 200  # not locked out by the guesses
        assert _status(auth, _basic("w", "stale")) == 401  # remembered: 401, not 429
        assert _status(auth, _basic("w", "new-guess")) == 429  # limiter first, no scrypt
    assert not auth.is_cheap(_basic("w", "never-seen"))


def test_unknown_users_run_scrypt_and_count_against_the_address() -> None:
    clock = Clock()
    auth = _authenticator(clock)
    with mock.patch.object(auth_module, "verify_password", return_value=False) as verify:
        statuses = [_status(auth, _basic(f"user-{i}", "x")) for i in range(11)]
    assert statuses == [401] * 10 + [429]  # the address budget: 10
    assert verify.call_count == 10  # same cost as a real user; the 11th never ran
    assert _status(auth, _basic("r", "ro"), "10.0.0.9") == 200
    with pytest.raises(RegistryError) as read_only:
        auth.authorize(_basic("r", "ro"), "POST", "10.0.0.9")
    assert read_only.value.status == 403
