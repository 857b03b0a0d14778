"""A local certificate authority and the simulator's server certificate, for serving fal's API over TLS.

``fal-client`` only speaks https and verifies certificates the way httpx does: against certifi's bundle,
or against the file named by ``SSL_CERT_FILE`` when that is set. So the simulator keeps a CA of its own in
a directory (created once, reused on every start so a client's trust survives restarts), issues a fresh
short-lived server certificate for loopback names on each start, and writes ``ca-bundle.pem``: the base
bundle (the caller's ``SSL_CERT_FILE`` if any, else certifi's) followed by the local CA. Pointing a
client's ``SSL_CERT_FILE`` at that bundle makes it trust the simulator and every public CA alike.

Files in the directory: ``ca.pem``, ``ca.key`` (0600), ``server.pem`` (leaf + CA chain), ``server.key``
(0600), ``ca-bundle.pem``. Every file is written to a temporary name and renamed, so a concurrent reader
never sees half a PEM.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
CA_NAME = "provider_sim local CA"
_CA_YEARS = 10
_LEAF_DAYS = 30
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock differences


@dataclass(frozen=True)
class TlsFiles:
    directory: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    bundle: Path


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError:
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.not_valid_after_utc < _now() + dt.timedelta(days=1):
        return None
    return cert, key


def _new_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=365 * _CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory / "ca.key", _key_pem(key), 0o600)
    _write(directory / "ca.pem", cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _issue_leaf(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, hosts: Sequence[str]
) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    return chain, _key_pem(key)


def base_bundle(env: dict[str, str] | None = None) -> bytes:
    """The trust a client had before: its own SSL_CERT_FILE if set and readable, else certifi's bundle."""
    environ = os.environ if env is None else env
    own = environ.get("SSL_CERT_FILE")
    if own and Path(own).is_file():
        return Path(own).read_bytes()
    return Path(certifi.where()).read_bytes()


def prepare(directory: Path, hosts: Sequence[str] = DEFAULT_HOSTS, *, base: bytes | None = None) -> TlsFiles:
    """Ensure the CA, issue a server certificate for `hosts`, and write the trust bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    loaded = _load_ca(directory)
    ca_cert, ca_key = loaded if loaded is not None else _new_ca(directory)
    chain, key_pem = _issue_leaf(ca_cert, ca_key, list(hosts))
    _write(directory / "server.key", key_pem, 0o600)
    _write(directory / "server.pem", chain)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    prior = base if base is not None else base_bundle()
    if ca_pem not in prior:
        prior = prior.rstrip(b"\n") + b"\n\n# " + CA_NAME.encode() + b"\n" + ca_pem
    _write(directory / "ca-bundle.pem", prior)
    return TlsFiles(
        directory=directory,
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        bundle=directory / "ca-bundle.pem",
    )
