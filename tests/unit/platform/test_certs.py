"""The local CA: files private, SANs as promised, chains that verify, a wrong-SAN cert for tests."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509

from orderstream.platform.certs import LocalCA, node_cert, server_cert, wrong_san_cert


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return ips | set(san.get_values_for_type(x509.DNSName))


def test_node_cert_files_are_private_and_name_local_addresses(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path)
    files = node_cert(ca, 1)
    for path in (files.cert, files.key, files.keystore, files.ca, tmp_path / "secrets/ca-key.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert _sans(files.cert) == {"127.0.0.1", "localhost"}
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert cert.subject.rfc4514_string() == "CN=node-1"
    ca_cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
    cert.verify_directly_issued_by(ca_cert)
    keystore = files.keystore.read_text()
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")  # unencrypted PKCS#8
    assert keystore.count("BEGIN CERTIFICATE") == 2


def test_ca_and_certs_are_reused_across_starts(tmp_path: Path) -> None:
    first = server_cert(tmp_path, "registry")
    before = first.cert.read_bytes()
    again = server_cert(tmp_path, "registry")
    assert again.cert.read_bytes() == before
    # other hosts: a new certificate from the same CA
    other = server_cert(tmp_path, "registry", hosts=("127.0.0.1",))
    assert _sans(other.cert) == {"127.0.0.1"}
    ca = x509.load_pem_x509_certificate(other.ca.read_bytes())
    x509.load_pem_x509_certificate(other.cert.read_bytes()).verify_directly_issued_by(ca)


def test_wrong_san_cert_names_no_local_address(tmp_path: Path) -> None:
    files = wrong_san_cert(tmp_path)
    sans = _sans(files.cert)
    assert "127.0.0.1" not in sans and "localhost" not in sans
    assert any(ipaddress.ip_address(s) for s in sans if s[0].isdigit())
