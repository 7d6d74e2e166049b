"""orderstream's error tree, named by the recovery each error needs.

    OrderstreamError                  root: every error we raise on purpose
    ├── ConfigError                   fix the configuration and start again
    │   └── RegistryAccessDenied      (also TransientError) the registry refused the
    │                                 credentials (401) or the role (403): fix
    │                                 registry_user/registry_password; never dead-letter
    ├── PlatformError                 local Kafka cannot be installed, started or reached
    │   ├── PrerequisiteMissing       install Java 17+ or Maven
    │   ├── PortInUse                 free the named port or choose another
    │   └── NodeStartFailed           read the node's log tail, carried in the message
    ├── TopologyError                 the requested topic change is not allowed
    ├── SerdeError
    │   ├── SerializationError        the value does not fit its schema
    │   └── DeserializationError      undecodable bytes: route the record to the DLQ
    ├── RegistryError                 the schema registry answered with an error
    │   └── RegistryUnavailable       (also TransientError) unreachable or 5xx: retry later
    ├── TransientError                a dependency is briefly down: abort, back off, retry;
    │                                 never dead-letter the record
    ├── TaskMigrated                  fenced or lost partitions: drop state, rejoin
    ├── TaskCorrupted                 local state unusable: wipe and restore from changelog
    └── TransactionAborted            abortable: rewind to committed offsets and retry

Foreign errors are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class OrderstreamError(Exception):
    """Root of every error orderstream raises on purpose."""


class ConfigError(OrderstreamError):
    """The configuration is invalid; the message names the key."""


class PlatformError(OrderstreamError):
    """The local Kafka platform cannot be installed, started or reached."""


class PrerequisiteMissing(PlatformError):
    """A required tool (Java 17+, Maven) is not installed."""


class PortInUse(PlatformError):
    """A port the platform needs is already taken."""

    def __init__(self, port: int, what: str = "port") -> None:
        super().__init__(
            f"{what} 127.0.0.1:{port} is already in use; stop whatever listens there "
            f"or choose other ports (see --help)"
        )
        self.port = port


class NodeStartFailed(PlatformError):
    """A Kafka node exited or did not become ready during start-up."""


class TopologyError(OrderstreamError):
    """A topology change that Kafka cannot or must not make (e.g. fewer partitions)."""


class SerdeError(OrderstreamError):
    """Base of serialization errors."""


class SerializationError(SerdeError):
    """A value could not be encoded with its schema."""


class DeserializationError(SerdeError):
    """Bytes could not be decoded: wrong magic byte, unknown schema id or a bad body."""


class RegistryError(OrderstreamError):
    """The schema registry answered with an error."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status}, error_code {error_code})")
        self.status = status
        self.error_code = error_code


class TransientError(OrderstreamError):
    """A dependency is briefly unavailable: the record is fine, so retry it, never DLQ it."""


class RegistryUnavailable(RegistryError, TransientError):
    """The registry is unreachable or answered 5xx (e.g. still loading ``_schemas``)."""


class RegistryAccessDenied(ConfigError, TransientError):
    """The registry answered 401 (no or wrong credentials) or 403 (a read-only user writing).

    A configuration error, never the record's fault: it is also a ``TransientError`` so that a
    processing loop aborts and retries the record instead of dead-lettering good data, while
    start-up checks stop the service with this message.
    """

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status}, error_code {error_code})")
        self.status = status
        self.error_code = error_code


class TaskMigrated(OrderstreamError):
    """This instance was fenced or lost its partitions: drop uncommitted state and rejoin."""


class TaskCorrupted(OrderstreamError):
    """Local state cannot be trusted: wipe it and restore from the changelog."""


class TransactionAborted(OrderstreamError):
    """The open transaction was aborted: rewind to the committed offsets and retry."""
