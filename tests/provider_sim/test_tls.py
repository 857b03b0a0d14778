"""The local CA: kept across starts, a fresh leaf each start, a bundle that trusts public CAs and the local one."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import certifi
from cryptography import x509

from provider_sim import tls


def test_ca_is_reused_leaf_is_fresh_and_bundle_trusts_both(tmp_path: Path) -> None:
    first = tls.prepare(tmp_path, ["127.0.0.1", "localhost"])
    ca_before = first.ca_cert.read_bytes()
    leaf_before = first.server_cert.read_bytes()
    second = tls.prepare(tmp_path, ["127.0.0.1", "localhost"])
    assert second.ca_cert.read_bytes() == ca_before
    assert second.server_cert.read_bytes() != leaf_before
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    bundle = second.bundle.read_bytes()
    assert bundle.startswith(tls.base_bundle().rstrip(b"\n")) and ca_before in bundle
    assert bundle.count(ca_before) == 1
    leaf = x509.load_pem_x509_certificate(second.server_cert.read_bytes())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert leaf.issuer == x509.load_pem_x509_certificate(ca_before).subject
    context = ssl.create_default_context(cafile=str(second.bundle))
    assert any(cert["subject"] == ((("commonName", tls.CA_NAME),),) for cert in context.get_ca_certs())


def test_bundle_builds_on_the_callers_own_trust(tmp_path: Path) -> None:
    corporate = tmp_path / "corp.pem"
    corporate.write_bytes(
        Path(certifi.where()).read_bytes()[:4000].rsplit(b"-----END CERTIFICATE-----", 1)[0]
        + b"-----END CERTIFICATE-----\n"
    )
    base = tls.base_bundle({"SSL_CERT_FILE": str(corporate)})
    assert base == corporate.read_bytes()
    files = tls.prepare(tmp_path / "tls", base=base)
    assert files.bundle.read_bytes().startswith(corporate.read_bytes().rstrip(b"\n"))
