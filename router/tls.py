"""TLS for the RouterOS ``api-ssl`` service (TCP 8729).

Two situations exist in the field:

* The router has a certificate (``/ip/service set api-ssl certificate=...``). Pass an
  :class:`ssl.SSLContext` that trusts it (``ssl.create_default_context(cafile=...)``); the
  adapter then verifies the certificate and the host name like any TLS client.
* The router has **no** certificate (``certificate=none``, the factory default). RouterOS
  then offers only anonymous Diffie-Hellman (ADH) ciphers, which OpenSSL refuses unless
  the security level is lowered (``ADH:@SECLEVEL=0``) and TLS is capped at 1.2 (TLS 1.3
  has no anonymous suites). :func:`unverified_api_ssl_context` builds that context. It
  encrypts the API password against passive sniffing but does **not** authenticate the
  router: anyone in the path can impersonate it. Prefer giving the router a certificate,
  or run the API over a management VPN.
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Callable

# Anonymous DH for certificate-less routers, plus normal strong suites for routers that
# do present a certificate (which this context accepts without verifying).
_UNVERIFIED_CIPHERS = "HIGH:ADH:@SECLEVEL=0"


def unverified_api_ssl_context() -> ssl.SSLContext:
    """Return a client context that talks to api-ssl with or without a router certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(_UNVERIFIED_CIPHERS)
    return context


def socket_wrapper(context: ssl.SSLContext, host: str) -> Callable[[socket.socket], socket.socket]:
    """Return the ``ssl_wrapper`` callable librouteros applies to the connected socket.

    ``server_hostname`` is always passed: it is used for SNI and, when the context checks
    host names, for verification. The handshake runs under the socket's timeout.
    """
    return functools.partial(context.wrap_socket, server_hostname=host)
