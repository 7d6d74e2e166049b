"""HTTP Basic auth for the registry, from an auth file of salted scrypt hashes.

One user per line, ``#`` starts a comment::

    alice:read-write:scrypt$16384$8$1$<salt base64>$<hash base64>
    bob:read-only:scrypt$16384$8$1$...

``orderstream registry hash-password USER --role ROLE`` prints such a line; the password is
read from stdin or a prompt, never from argv. Read-only users may only GET (and HEAD).
Verified credentials are cached in memory (by a SHA-256 of the password), so scrypt's cost is
paid once per user, not per request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from orderstream.errors import ConfigError, RegistryError

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
    """Checks a Basic ``Authorization`` header against the users, and their role."""

    def __init__(self, users: dict[str, User]) -> None:
        self.users = users
        self._verified: set[tuple[str, bytes]] = set()  # successes only: bounded by users
        self._lock = threading.Lock()

    def authorize(self, header: str | None, method: str) -> User:
        """The user, or RegistryError 401 (no or bad credentials) / 403 (read-only writing)."""
        user = self._authenticate(header)
        if user.role is RoleName.READ_ONLY and method.upper() not in READ_METHODS:
            raise RegistryError(403, 40301, f"User '{user.name}' is read-only")
        return user

    def _authenticate(self, header: str | None) -> User:
        if not header or not header.lower().startswith("basic "):
            raise RegistryError(401, 401, "Unauthorized: credentials are required")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            name, password = decoded.split(":", 1)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise RegistryError(401, 401, "Unauthorized: malformed credentials") from None
        user = self.users.get(name)
        if user is None or not self._verify(user, password):
            raise RegistryError(401, 401, "Unauthorized: bad credentials")
        return user

    def _verify(self, user: User, password: str) -> bool:
        key = (user.name, hashlib.sha256(password.encode()).digest())
        with self._lock:
            if key in self._verified:
                return True
        if not verify_password(password, user.password_hash):
            return False
        with self._lock:
            self._verified.add(key)
        return True
