"""The registry's error answers: HTTP status and Confluent ``error_code``, one factory each."""

from __future__ import annotations

from orderstream.errors import RegistryError


def _client_error(error_code: int, message: str) -> RegistryError:
    """A 4xx answer: Confluent's client error codes begin with their HTTP status."""
    return RegistryError(error_code // 100, error_code, message)


def subject_not_found(subject: str) -> RegistryError:
    return _client_error(40401, f"Subject '{subject}' not found.")


def version_not_found(subject: str, version: object) -> RegistryError:
    return _client_error(40402, f"Version {version} not found for subject '{subject}'.")


def schema_not_found(detail: str = "Schema not found") -> RegistryError:
    return _client_error(40403, detail)


def subject_soft_deleted(subject: str) -> RegistryError:
    return _client_error(
        40404,
        f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently",
    )


def subject_not_soft_deleted(subject: str) -> RegistryError:
    return _client_error(
        40405,
        f"Subject '{subject}' was not deleted first before being permanently deleted",
    )


def version_soft_deleted(subject: str, version: int) -> RegistryError:
    return _client_error(
        40406,
        f"Subject '{subject}' Version {version} was soft deleted. "
        "Set permanent=true to delete permanently",
    )


def version_not_soft_deleted(subject: str, version: int) -> RegistryError:
    return _client_error(
        40407,
        f"Subject '{subject}' Version {version} was not deleted first "
        "before being permanently deleted",
    )


def no_subject_level(subject: str) -> RegistryError:
    return _client_error(
        40408, f"Subject '{subject}' does not have subject-level compatibility configured"
    )


def incompatible(subject: str, reasons: list[str]) -> RegistryError:
    return _client_error(
        40901,
        f"Schema being registered is incompatible with an earlier schema for subject "
        f"\"{subject}\", details: [{'; '.join(reasons)}]",
    )


def invalid_schema(message: str) -> RegistryError:
    return _client_error(42201, message)


def invalid_version(version: object) -> RegistryError:
    return _client_error(
        42202,
        f"The specified version '{version}' is not a valid version id. Allowed values are "
        'between [1, 2^31-1] and the string "latest"',
    )


def invalid_level(level: object) -> RegistryError:
    return _client_error(
        42203,
        f"Invalid compatibility level {level!r}. Valid values are none, backward, forward, "
        "full, backward_transitive, forward_transitive, and full_transitive",
    )


def still_referenced(subject: str, version: int) -> RegistryError:
    return _client_error(
        42206,
        f"One or more references exist to the schema {{subject={subject},version={version}}}",
    )


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
