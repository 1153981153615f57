"""A throwaway self-signed certificate for the local SMTP simulator, made in memory with the
``cryptography`` package (no openssl binary, nothing written to the repository).

The certificate names ``localhost``, ``127.0.0.1`` and ``::1``, so a client that really
verifies (``ssl.create_default_context(cadata=pem)``) accepts it by host name. Its validity
follows the real wall clock, not the injected one: TLS libraries check the real time.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from datetime import UTC, datetime, timedelta


def make_certificate(common_name: str = "localhost") -> tuple[str, str]:
    """Return ``(certificate_pem, private_key_pem)`` for a fresh P-256 key."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the SMTP simulator needs the 'cryptography' package for TLS (pip install cryptography)"
        ) from err

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.DNSName(common_name),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return cert_pem, key_pem


def server_context(cert_pem: str, key_pem: str) -> ssl.SSLContext:
    """A server-side context. ``load_cert_chain`` only reads files, so the PEMs pass through
    a private temporary directory that is removed at once."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="p2c-smtp-tls-") as folder:
        cert_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        for path, text in ((cert_path, cert_pem), (key_path, key_pem)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(text)
        context.load_cert_chain(cert_path, key_path)
    return context


def client_context(cert_pem: str) -> ssl.SSLContext:
    """A verifying client context that trusts exactly this certificate."""
    return ssl.create_default_context(cadata=cert_pem)
