"""HTTPS for orderstream's HTTP servers (registry, orders API, dashboard) and their clients.

A server gets a PEM certificate and key (paths, never contents, so nothing secret reaches
argv); ``orderstream kafka up --secure`` writes ones signed by the local CA under
``$ORDERSTREAM_HOME/secrets/``. Clients verify the server against a CA file.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from orderstream.errors import ConfigError


@dataclass(frozen=True)
class ServerTls:
    """The certificate chain and private key a server presents."""

    certfile: Path
    keyfile: Path

    @classmethod
    def from_options(cls, certfile: Path | None, keyfile: Path | None) -> ServerTls | None:
        """None for plain HTTP; ConfigError when only one is given or a file is unreadable."""
        if certfile is None and keyfile is None:
            return None
        if certfile is None or keyfile is None:
            raise ConfigError("HTTPS needs both --tls-cert and --tls-key (PEM files)")
        tls = cls(certfile, keyfile)
        tls.check()
        return tls

    def check(self) -> None:
        """ConfigError naming the file when the pair cannot be loaded."""
        for path in (self.certfile, self.keyfile):
            if not path.is_file():
                raise ConfigError(f"TLS file {path} does not exist")
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                self.certfile, self.keyfile
            )
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"cannot load TLS certificate {self.certfile} with key {self.keyfile}: {exc}"
            ) from exc


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifies servers (chain and host name) against the system's CAs plus ``ca_file``.

    Both, because the CA in ``security.ca_file`` is the Kafka cluster's: the local stack's
    registry is signed by it, a registry elsewhere by a public CA.
    """
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"cannot load CA file {ca_file}: {exc}") from exc
    return context
