"""HTTP Basic auth for the registry, from an auth file of salted scrypt hashes.

One user per line, ``#`` starts a comment::

    alice:read-write:scrypt$16384$8$1$<salt base64>$<hash base64>
    bob:read-only:scrypt$16384$8$1$...

``orderstream registry hash-password USER --role ROLE`` prints such a line; the password is
read from stdin or a prompt, never from argv. Read-only users may only GET (and HEAD).
Verified and refused credentials are cached in memory (by a SHA-256 of the password), so
scrypt's cost is paid once per password, not per request; new wrong passwords are rate-limited
per user and client address (429 with Retry-After, see ``limiter``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from orderstream.errors import ConfigError, RegistryError
from orderstream.registry.limiter import LoginLimiter

_N, _R, _P = 2**14, 8, 1
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RoleName(StrEnum):
    READ_ONLY = "read-only"
    READ_WRITE = "read-write"


@dataclass(frozen=True)
class User:
    name: str
    role: RoleName
    password_hash: str


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``password`` with a fresh random salt."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def user_line(name: str, role: RoleName, password: str) -> str:
    if not name or ":" in name:
        raise ConfigError("a user name must be non-empty and must not contain ':'")
    return f"{name}:{role.value}:{hash_password(password)}"


def load_users(path: Path) -> dict[str, User]:
    """Users of an auth file; ConfigError naming the line for anything malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read auth file {path}: {exc.strerror}") from exc
    users: dict[str, User] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":", 2)
        if len(parts) != 3 or parts[1] not in {r.value for r in RoleName}:
            raise ConfigError(
                f"auth file {path} line {number}: expected user:read-only|read-write:scrypt$..."
            )
        users[parts[0]] = User(parts[0], RoleName(parts[1]), parts[2])
    return users


class Authenticator:
    """Checks a Basic ``Authorization`` header against the users, and their role.

    Only a password never seen before runs scrypt: verified and refused passwords are both
    remembered (by a SHA-256), so a service that logs in correctly costs a dict look-up and one
    with a stale password gets its 401 just as cheaply. New wrong guesses are rationed by a
    ``LoginLimiter`` (429 with Retry-After), which each scrypt run takes a token from first.
    """

    def __init__(self, users: dict[str, User], limiter: LoginLimiter | None = None) -> None:
        self.users = users
        self.limiter = limiter or LoginLimiter()
        self._verified: set[tuple[str, bytes]] = set()  # successes only: bounded by users
        self._refused: OrderedDict[tuple[str, bytes], None] = OrderedDict()  # LRU, bounded
        self._lock = threading.Lock()

    def authorize(self, header: str | None, method: str, address: str = "-") -> User:
        """The user, or RegistryError 401 (no or bad credentials) / 403 (read-only writing) /
        429 (too many failed logins from ``address``)."""
        user = self._authenticate(header, address)
        if user.role is RoleName.READ_ONLY and method.upper() not in READ_METHODS:
            raise RegistryError(403, 40301, f"User '{user.name}' is read-only")
        return user

    def is_cheap(self, header: str | None) -> bool:
        """Whether ``authorize`` answers ``header`` without running scrypt."""
        try:
            key, _ = _credentials(header)
        except RegistryError:
            return True
        with self._lock:
            return key in self._verified or key in self._refused

    def _authenticate(self, header: str | None, address: str) -> User:
        key, password = _credentials(header)
        name = key[0]
        user = self.users.get(name)
        if not self._known_outcome(key, user, address) and not self._verify(key, user, password):
            raise _bad_credentials()
        assert user is not None  # _verify is False for unknown users
        return user

    def _known_outcome(self, key: tuple[str, bytes], user: User | None, address: str) -> bool:
        """True for a verified password; 401 for one refused before; else take a limiter token
        for the scrypt run to come (429 when there is none)."""
        with self._lock:
            if key in self._verified and user is not None:
                return True
            if key in self._refused:
                self._refused.move_to_end(key)
                raise _bad_credentials()
        self.limiter.acquire(key[0], address)
        return False

    def _verify(self, key: tuple[str, bytes], user: User | None, password: str) -> bool:
        # An unknown user costs the same scrypt as a known one, so timing does not tell
        # which user names exist.
        ok = verify_password(password, user.password_hash if user else _dummy_hash())
        with self._lock:
            if ok and user is not None:
                self._verified.add(key)
                return True
            self._refused[key] = None
            if len(self._refused) > MAX_REFUSED:
                self._refused.popitem(last=False)
        return False


MAX_REFUSED = 4096


def _credentials(header: str | None) -> tuple[tuple[str, bytes], str]:
    """((user, SHA-256 of the password), password) of a Basic header; 401 when malformed."""
    if not header or not header.lower().startswith("basic "):
        raise RegistryError(401, 401, "Unauthorized: credentials are required")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        name, password = decoded.split(":", 1)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RegistryError(401, 401, "Unauthorized: malformed credentials") from None
    return (name, hashlib.sha256(password.encode()).digest()), password


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not the password of anyone", salt=b"orderstream-dummy")


def _bad_credentials() -> RegistryError:
    return RegistryError(401, 401, "Unauthorized: bad credentials")
