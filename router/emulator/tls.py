"""A throw-away self-signed certificate for the api-ssl listener.

Made with the ``cryptography`` package when it is installed, else with the ``openssl``
command line tool. The router side then does normal certificate TLS (what RouterOS does
once ``/ip/service api-ssl`` has a certificate), not the anonymous-DH ``certificate=none``
mode, which modern OpenSSL builds only allow at ``@SECLEVEL=0``.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificate:
    cert_pem: bytes
    key_pem: bytes


def _with_cryptography(common_name: str) -> Certificate:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(common_name))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def _with_openssl_cli(common_name: str) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("TLS needs the 'cryptography' package or the 'openssl' command")
    with tempfile.TemporaryDirectory(prefix="routeros-emulator-") as folder:
        cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key_path),
                "-out",
                str(cert_path),
                "-days",
                "2",
                "-subj",
                f"/CN={common_name}",
                "-addext",
                f"subjectAltName=IP:{common_name}",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return Certificate(cert_pem=cert_path.read_bytes(), key_pem=key_path.read_bytes())


def make_certificate(common_name: str = "127.0.0.1") -> Certificate:
    try:
        return _with_cryptography(common_name)
    except ImportError:
        return _with_openssl_cli(common_name)


def server_context(certificate: Certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="routeros-emulator-") as folder:
        cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_path.write_bytes(certificate.cert_pem)
        key_path.write_bytes(certificate.key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context


def client_context(certificate: Certificate) -> ssl.SSLContext:
    """Trusts exactly this certificate. Host names are not checked, so ``ctx.wrap_socket``
    works as librouteros' ``ssl_wrapper`` without a ``server_hostname``."""
    context = ssl.create_default_context(cadata=certificate.cert_pem.decode("ascii"))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    return context
