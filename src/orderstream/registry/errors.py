"""The registry's error answers: HTTP status and Confluent ``error_code``.

Confluent's client errors are a table of a code and a message template each; calling an entry
with its fields builds the answer (a wrong number of values fails at once, ``zip(strict=True)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from orderstream.errors import RegistryError


@dataclass(frozen=True)
class _ClientError:
    """One of Confluent's client errors: calling it with the values of ``fields``, in order,
    gives its answer, ``template`` filled by ``str.format``. A client error code begins with
    its HTTP status."""

    error_code: int
    template: str
    fields: tuple[str, ...]

    def __call__(self, *values: object) -> RegistryError:
        message = self.template.format_map(dict(zip(self.fields, values, strict=True)))
        return RegistryError(self.error_code // 100, self.error_code, message)


_SUBJECT = ("subject",)
_VERSION = ("subject", "version")

# Confluent's client errors, their codes and messages.
subject_not_found = _ClientError(40401, "Subject '{subject}' not found.", _SUBJECT)
version_not_found = _ClientError(
    40402, "Version {version} not found for subject '{subject}'.", _VERSION
)
_schema_not_found = _ClientError(40403, "{detail}", ("detail",))
subject_soft_deleted = _ClientError(
    40404,
    "Subject '{subject}' was soft deleted. Set permanent=true to delete permanently",
    _SUBJECT,
)
subject_not_soft_deleted = _ClientError(
    40405, "Subject '{subject}' was not deleted first before being permanently deleted", _SUBJECT
)
version_soft_deleted = _ClientError(
    40406,
    "Subject '{subject}' Version {version} was soft deleted. "
    "Set permanent=true to delete permanently",
    _VERSION,
)
version_not_soft_deleted = _ClientError(
    40407,
    "Subject '{subject}' Version {version} was not deleted first "
    "before being permanently deleted",
    _VERSION,
)
no_subject_level = _ClientError(
    40408, "Subject '{subject}' does not have subject-level compatibility configured", _SUBJECT
)
_incompatible = _ClientError(
    40901,
    "Schema being registered is incompatible with an earlier schema for subject "
    '"{subject}", details: [{reasons}]',
    ("subject", "reasons"),
)
invalid_schema = _ClientError(42201, "{message}", ("message",))
invalid_version = _ClientError(
    42202,
    "The specified version '{version}' is not a valid version id. Allowed values are "
    'between [1, 2^31-1] and the string "latest"',
    ("version",),
)
invalid_level = _ClientError(
    42203,
    "Invalid compatibility level {level!r}. Valid values are none, backward, forward, "
    "full, backward_transitive, forward_transitive, and full_transitive",
    ("level",),
)
still_referenced = _ClientError(
    42206,
    "One or more references exist to the schema {{subject={subject},version={version}}}",
    _VERSION,
)


def schema_not_found(detail: str = "Schema not found") -> RegistryError:
    return _schema_not_found(detail)


def incompatible(subject: str, reasons: list[str]) -> RegistryError:
    return _incompatible(subject, "; ".join(reasons))


def bad_request(message: str) -> RegistryError:
    return RegistryError(400, 400, message)


def not_ready(detail: str) -> RegistryError:
    return RegistryError(503, 50002, f"The registry is not ready: {detail}; retry later")


def not_primary() -> RegistryError:
    return RegistryError(
        503, 50004, "This instance is not the primary and does not accept writes; retry later"
    )


class LoginsThrottled(RegistryError):
    """429: too many failed logins from this client; ``retry_after_s`` goes in Retry-After."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(429, 42901, message)
        self.retry_after_s = retry_after_s


def logins_throttled(user: str, retry_after_s: int) -> LoginsThrottled:
    return LoginsThrottled(
        f"Too many failed logins for user '{user}' from this address; retry after "
        f"{retry_after_s} s",
        retry_after_s,
    )


def forward_refused(url: str) -> RegistryError:
    return RegistryError(
        500,
        50003,
        f"Refusing to forward credentials over plain http to the primary at {url}: serve "
        "every registry instance over HTTPS (--tls-cert/--tls-key)",
    )
