"""The HTTP session our clients of outside systems (Daraja, the SMS gateway, webhooks) use.

``requests`` reads the proxy variables, ``no_proxy`` and ``~/.netrc`` again on every call
(``trust_env``): a sixth of an STK push's CPU in the soak, for settings that do not change
while the process runs. The session made here reads them once, for the one address it
talks to, and then keeps them: an install behind a proxy (``HTTPS_PROXY``) or with its own
CA bundle (``REQUESTS_CA_BUNDLE``) works as before. ``.netrc`` is not read at all: every
call carries its own credentials.
"""

from __future__ import annotations

import os

import requests
from requests.utils import get_environ_proxies


def outbound_session(url: str) -> requests.Session:
    """A pooled session for calls to ``url``'s host, with the environment's proxy and CA
    settings read now instead of on every request."""
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session
