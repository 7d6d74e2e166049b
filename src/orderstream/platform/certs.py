"""A local certificate authority and the certificates the secured stack serves with.

Everything lives under ``$ORDERSTREAM_HOME/secrets/`` (directory 0700, files 0600), as PEM:

- ``ca.pem`` / ``ca-key.pem``: the CA that signs every certificate (clients trust ``ca.pem``);
- ``<name>.pem`` (leaf certificate), ``<name>-key.pem`` (unencrypted PKCS#8 key) and
  ``<name>-keystore.pem`` (key, leaf and CA in one file: what Kafka's ``ssl.keystore.type=PEM``
  reads, so no keytool and no keystore password).

Keys are EC P-256: small and fast to generate on a loaded machine. A certificate's subject is
``CN=<name>``, which is also the principal Kafka derives from it on an mTLS listener
(``User:CN=<name>``). Certificates carry both serverAuth and clientAuth, since a KRaft node
dials its peers' controller listeners with the same certificate it serves.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orderstream.errors import ConfigError

SECRETS_DIR = "secrets"
CA_NAME = "ca"
# What every local client dials; a certificate must name the address a client uses.
DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost")
# A SAN no local client ever dials: a TLS client must refuse a server presenting it.
WRONG_HOSTS: tuple[str, ...] = ("wrong.invalid", "10.255.255.1")
CA_DAYS = 3650
LEAF_DAYS = 825


def secrets_dir(home: Path) -> Path:
    """``<home>/secrets``, created 0700 (a pre-existing directory is tightened to 0700)."""
    path = home / SECRETS_DIR
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read: created 0600, never world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class CertFiles:
    """The PEM files of one certificate."""

    name: str
    cert: Path
    key: Path
    keystore: Path  # key + leaf + CA: Kafka's PEM keystore
    ca: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


# x509.KeyUsage's nine flags, each of which it takes by keyword.
_KEY_USAGES = (
    "digital_signature content_commitment key_encipherment data_encipherment key_agreement "
    "key_cert_sign crl_sign encipher_only decipher_only"
).split()


def _key_usage(*granted: str) -> x509.KeyUsage:
    """A KeyUsage that grants ``granted`` and nothing else."""
    return x509.KeyUsage(**(dict.fromkeys(_KEY_USAGES, False) | dict.fromkeys(granted, True)))


class LocalCA:
    """The CA of one ``$ORDERSTREAM_HOME``: created once, then reused by every start."""

    def __init__(self, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.directory = directory
        self._key = key
        self._cert = cert

    @property
    def ca_file(self) -> Path:
        return self.directory / f"{CA_NAME}.pem"

    @classmethod
    def load_or_create(cls, home: Path) -> LocalCA:
        directory = secrets_dir(home)
        cert_path, key_path = directory / f"{CA_NAME}.pem", directory / f"{CA_NAME}-key.pem"
        if cert_path.is_file() and key_path.is_file():
            return cls._load(directory, cert_path, key_path)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orderstream local CA")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                _key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_private(key_path, _key_pem(key))
        write_private(cert_path, _cert_pem(cert))
        return cls(directory, key, cert)

    @classmethod
    def _load(cls, directory: Path, cert_path: Path, key_path: Path) -> LocalCA:
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"the local CA in {directory} is unreadable ({exc}); delete {directory} "
                "to generate a new one (every certificate is then re-issued)"
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{key_path} is not an EC key; delete {directory} to regenerate")
        return cls(directory, key, cert)

    def files(self, name: str) -> CertFiles:
        d = self.directory
        return CertFiles(
            name=name,
            cert=d / f"{name}.pem",
            key=d / f"{name}-key.pem",
            keystore=d / f"{name}-keystore.pem",
            ca=self.ca_file,
        )

    def issue(self, name: str, hosts: Iterable[str] = DEFAULT_HOSTS) -> CertFiles:
        """A new certificate ``CN=<name>`` for ``hosts`` (IPs or DNS names), overwriting any."""
        if not name or "/" in name or name == CA_NAME:
            raise ConfigError(f"invalid certificate name {name!r}")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_san(hosts), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        files = self.files(name)
        key_pem, cert_pem, ca_pem = _key_pem(key), _cert_pem(cert), _cert_pem(self._cert)
        write_private(files.key, key_pem)
        write_private(files.cert, cert_pem)
        write_private(files.keystore, key_pem + cert_pem + ca_pem)
        return files

    def ensure(self, name: str, hosts: Iterable[str] = DEFAULT_HOSTS) -> CertFiles:
        """The certificate ``name``: reused when its files exist and this CA signed it."""
        files = self.files(name)
        hosts = tuple(hosts)
        if self._reusable(files, hosts):
            return files
        return self.issue(name, hosts)

    def _reusable(self, files: CertFiles, hosts: tuple[str, ...]) -> bool:
        """Signed by this CA, for the same hosts, valid for another day: else re-issue."""
        if not (files.cert.is_file() and files.key.is_file() and files.keystore.is_file()):
            return False
        try:
            cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
            cert.verify_directly_issued_by(self._cert)
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            return False
        return san == _san(hosts) and cert.not_valid_after_utc > _now() + dt.timedelta(days=1)


def node_cert(ca: LocalCA, node_id: int) -> CertFiles:
    """The certificate of KRaft node ``node_id``; its principal is ``User:CN=node-<id>``."""
    return ca.ensure(node_principal_name(node_id))


def node_principal_name(node_id: int) -> str:
    return f"node-{node_id}"


def server_cert(home: Path, name: str, hosts: Iterable[str] = DEFAULT_HOSTS) -> CertFiles:
    """A certificate for any server of the stack (registry, orders API, dashboard) by name."""
    return LocalCA.load_or_create(home).ensure(name, hosts)


def wrong_san_cert(home: Path, name: str = "wrong-san") -> CertFiles:
    """A CA-signed certificate whose SANs name no address a local client dials (for tests)."""
    return LocalCA.load_or_create(home).issue(name, WRONG_HOSTS)
