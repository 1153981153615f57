"""Shared fixtures for the M-Pesa tests: a manual clock, a running Daraja simulator, a client
pointed at it, a local callback receiver, and a deliberately broken "Daraja" for timeouts."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from portal.clock import ManualClock
from portal.loopback import HttpThread
from portal.mpesa.client import SANDBOX_PASSKEY, DarajaClient
from portal.mpesa.request_fields import DarajaCredentials
from portal.mpesa.simulator import DarajaSimulator

PHONE = "254712345678"
CALLBACK = "http://127.0.0.1:9/hooks/stk/x"  # nothing listens on port 9 (discard)


def push(client: DarajaClient, url: str = CALLBACK, phone: str = PHONE, amount: int = 20) -> str:
    """Send an STK push for a 1-hour package; return its CheckoutRequestID."""
    return client.stk_push(
        phone=phone,
        amount=amount,
        account_reference="WIFI1H",
        description="1 hour wifi",
        callback_url=url,
    ).checkout_request_id


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[DarajaSimulator]:
    with DarajaSimulator(clock=clock, seed=20260301) as simulator:
        yield simulator


def _credentials_for(simulator: DarajaSimulator, **overrides: Any) -> DarajaCredentials:
    values: dict[str, Any] = {
        "base_url": simulator.base_url,
        "consumer_key": simulator.merchant.consumer_key,
        "consumer_secret": simulator.merchant.consumer_secret,
        "shortcode": simulator.merchant.shortcode,
        "passkey": simulator.merchant.passkey,
    }
    values.update(overrides)
    return DarajaCredentials(**values)


@pytest.fixture
def credentials_for() -> Callable[..., DarajaCredentials]:
    """``credentials_for(sim, **overrides)``: credentials matching a simulator."""
    return _credentials_for


@pytest.fixture
def make_client(clock: ManualClock) -> Iterator[Callable[..., DarajaClient]]:
    """Build clients (several may share one simulator); all are closed afterwards."""
    made: list[DarajaClient] = []

    def build(credentials: DarajaCredentials, **kwargs: Any) -> DarajaClient:
        kwargs.setdefault("timeout", 5.0)
        client = DarajaClient(credentials, clock=clock, **kwargs)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


@pytest.fixture
def client(sim: DarajaSimulator, make_client: Callable[..., DarajaClient]) -> DarajaClient:
    return make_client(_credentials_for(sim))


# -- a local HTTP server that receives callbacks --------------------------------------------


@dataclass(frozen=True)
class ReceivedCallback:
    path: str
    headers: dict[str, str]
    body: bytes
    peer_port: int = 0  # the sender's port: one connection or several

    def json(self) -> Any:
        return json.loads(self.body)


class CallbackReceiver:
    """Records every POST; answers with ``status`` (200 and Daraja's usual ack by default)."""

    def __init__(self) -> None:
        self.status = 200
        self._received: list[ReceivedCallback] = []
        self._lock = threading.Lock()
        self._http = HttpThread(self._app, host="127.0.0.1", port=0, name="callback-receiver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}/hooks/stk/secret-token"

    @property
    def received(self) -> list[ReceivedCallback]:
        with self._lock:
            return list(self._received)

    def stop(self) -> None:
        self._http.stop()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        peer_port = int(environ.get("REMOTE_PORT") or 0)
        record = ReceivedCallback(request.path, dict(request.headers), request.get_data(), peer_port)
        with self._lock:
            self._received.append(record)
        answer = Response(
            json.dumps({"ResultCode": 0, "ResultDesc": "Accepted"}),
            status=self.status,
            content_type="application/json",
        )
        return answer(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver()
    yield server
    server.stop()


# -- a "Daraja" that answers OAuth, then stalls or hangs up on API calls ----------------------


class BrokenDaraja:
    """Raw socket server. OAuth gets a real token answer; other requests are either held
    open without a reply (``mode="stall"``) or read fully and then hung up on (``"drop"``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self.api_requests = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for conn in self._held:
            conn.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            head = read_request(conn)
            if b"/oauth/" in head.split(b"\r\n", 1)[0]:
                body = b'{"access_token":"brokenToken123","expires_in":"3599"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                conn.close()
                continue
            self.api_requests += 1
            if self.mode == "stall":
                self._held.append(conn)
            else:
                conn.close()


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(rest) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        rest += chunk
    return head


@pytest.fixture
def broken_daraja() -> Iterator[Callable[[str], BrokenDaraja]]:
    made: list[BrokenDaraja] = []

    def build(mode: str) -> BrokenDaraja:
        server = BrokenDaraja(mode)
        made.append(server)
        return server

    yield build
    for server in made:
        server.close()


@pytest.fixture
def sandbox_passkey() -> str:
    return SANDBOX_PASSKEY
