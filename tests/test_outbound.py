"""The outbound HTTP session reads the proxy settings once, when it is made, and then keeps
them: a request goes through the proxy named then (a real one on loopback here), and a
change of the environment afterwards does not move it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from portal.outbound import outbound_session


class _Proxy(BaseHTTPRequestHandler):
    """Answers every request itself and notes the target it was asked for (a proxy sees
    the whole URL in the request line)."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"via proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_proxy_named_in_the_environment_is_used(proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = outbound_session("http://daraja.example.invalid/")
    monkeypatch.delenv("HTTP_PROXY")  # read once: the session keeps what it was made with

    answer = session.get("http://daraja.example.invalid/oauth", timeout=5)

    assert answer.text == "via proxy"
    assert _Proxy.seen == ["http://daraja.example.invalid/oauth"]


def test_no_proxy_for_an_address_listed_in_no_proxy(proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "daraja.example.invalid")

    assert outbound_session("http://daraja.example.invalid/").proxies == {}


def test_a_ca_bundle_named_in_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/venue-proxy-ca.pem")

    session = outbound_session("https://api.safaricom.co.ke/")

    assert session.verify == "/etc/ssl/venue-proxy-ca.pem"
    assert session.trust_env is False  # nothing read again per request (nor ~/.netrc)
